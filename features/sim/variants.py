"""Simulated variants: two small polygenic scores and the pharmacogene SNPs, with allele frequencies.

Score variants are synthetic (fake rsIDs at random GRCh38 positions) and never strand-ambiguous (A/T,
C/G), so every one of them is matchable. Pharmacogene SNPs use their real rsIDs and GRCh38 positions;
frequencies are rounded from public population summaries (gnomAD/PharmGKB) and are illustrative only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

ANCESTRIES = ("EUR", "AFR", "EAS", "SAS", "AMR")
ANCESTRY_SHARES = (0.60, 0.13, 0.08, 0.07, 0.12)
_UNAMBIGUOUS = (("A", "G"), ("A", "C"), ("G", "A"), ("G", "T"), ("C", "T"), ("C", "A"), ("T", "C"), ("T", "G"))


@dataclass(frozen=True)
class Variant:
    rsid: str
    chrom: str
    pos: int
    ref: str
    alt: str
    freq: dict[str, float]  # ALT allele frequency by ancestry


@dataclass(frozen=True)
class ScoreVariant:
    variant: Variant
    effect_allele: str
    other_allele: str
    weight: float


PGX_VARIANTS = (
    Variant("rs4244285", "chr10", 94781859, "G", "A", {"EUR": .15, "AFR": .17, "EAS": .30, "SAS": .34, "AMR": .10}),
    Variant("rs4986893", "chr10", 94780653, "G", "A", {"EUR": .005, "AFR": .005, "EAS": .07, "SAS": .01, "AMR": .005}),
    Variant("rs1799853", "chr10", 94942290, "C", "T", {"EUR": .12, "AFR": .02, "EAS": .005, "SAS": .04, "AMR": .07}),
    Variant("rs1057910", "chr10", 94981296, "A", "C", {"EUR": .07, "AFR": .01, "EAS": .04, "SAS": .11, "AMR": .04}),
    Variant("rs9923231", "chr16", 31096368, "C", "T", {"EUR": .40, "AFR": .10, "EAS": .90, "SAS": .15, "AMR": .45}),
)


def make_score(rng: np.random.Generator, n_variants: int, rsid_start: int, taken: set[tuple[str, int]],
               weight_range: tuple[float, float]) -> list[ScoreVariant]:
    """Random non-ambiguous variants with positive per-allele log-odds; 1 in 4 effect alleles is REF."""
    score = []
    for i in range(n_variants):
        chrom, pos = _free_site(rng, taken)
        ref, alt = _UNAMBIGUOUS[rng.integers(len(_UNAMBIGUOUS))]
        base = rng.uniform(0.08, 0.5)
        freq = {a: float(np.clip(base + rng.normal(0, 0.04), 0.02, 0.98)) for a in ANCESTRIES}
        variant = Variant(f"rs{rsid_start + i}", chrom, pos, ref, alt, freq)
        effect_is_ref = rng.random() < 0.25
        score.append(ScoreVariant(variant, ref if effect_is_ref else alt, alt if effect_is_ref else ref,
                                  round(float(rng.uniform(*weight_range)), 4)))
    return score


def _free_site(rng: np.random.Generator, taken: set[tuple[str, int]]) -> tuple[str, int]:
    while True:
        site = (f"chr{rng.integers(1, 23)}", int(rng.integers(1_000_000, 150_000_000)))
        if site not in taken:
            taken.add(site)
            return site


def draw_alt_dosages(rng: np.random.Generator, variants: list[Variant], ancestry: np.ndarray) -> np.ndarray:
    """ALT-allele dosage 0/1/2 per (variant, patient), Hardy-Weinberg within each ancestry group."""
    freqs = np.array([[v.freq[a] for a in ANCESTRIES] for v in variants])  # (variants, ancestries)
    group = pd.Categorical(ancestry, categories=ANCESTRIES).codes
    p = freqs[:, group]  # (variants, patients)
    return (rng.random(p.shape) < p).astype(np.int8) + (rng.random(p.shape) < p).astype(np.int8)


def exclusive_alleles(alt_dosage: np.ndarray, variants: list[Variant], groups: list[tuple[str, str]]) -> None:
    """Alleles of one gene sit on different haplotypes (e.g. CYP2C19 *2 and *3): cap their total at 2."""
    row = {v.rsid: i for i, v in enumerate(variants)}
    for first, second in groups:
        a, b = row[first], row[second]
        alt_dosage[b] = np.minimum(alt_dosage[b], 2 - alt_dosage[a])


def effect_dosage(score: list[ScoreVariant], alt_dosage: np.ndarray) -> np.ndarray:
    """Effect-allele dosage: the ALT dosage, or 2 minus it where the effect allele is REF."""
    flip = np.array([s.effect_allele == s.variant.ref for s in score])[:, None]
    return np.where(flip, 2 - alt_dosage, alt_dosage)
