"""Polygenic risk scores from PGS Catalog scoring files (format 2.0) and VCF genotypes.

Matching: a score variant matches a VCF site at the same position (harmonised ``hm_chr``/``hm_pos`` when
present, else ``chr_name``/``chr_position``) whose REF/ALT are the score's effect and other alleles, in
either orientation. The score is the sum over matched variants of effect-allele dosage x effect_weight
(plink2's SUM with ``no-mean-imputation``). Missing-genotype policy: a no-call contributes 0 and is
counted per sample, so a caller can reject samples with too many. A score matching fewer than
``min_overlap`` of its variants fails with a clear error instead of producing a biased number.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.genetic.vcf import Genotypes, read_genotypes, site_key

REQUIRED = ["effect_allele", "effect_weight"]


class ScoreError(ValueError):
    """A scoring file is malformed or its variants do not overlap the genotypes enough."""


@dataclass(frozen=True)
class ScoringFile:
    path: Path
    header: dict[str, str]
    variants: pd.DataFrame  # chrom, pos, effect_allele, other_allele, effect_weight

    @property
    def pgs_id(self) -> str:
        return self.header.get("pgs_id", self.path.stem)


@dataclass(frozen=True)
class ScoreResult:
    pgs_id: str
    sums: pd.Series  # per sample
    missing_calls: pd.Series  # per sample, over matched variants
    report: pd.DataFrame  # one row per score variant: status and reason

    def counts(self) -> dict[str, int]:
        return self.report["status"].value_counts().to_dict()


def read_scoring_file(path: Path) -> ScoringFile:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as handle:
        lines = handle.read().splitlines()
    header = dict(line.lstrip("#").split("=", 1) for line in lines if line.startswith("#") and "=" in line)
    body = [line for line in lines if not line.startswith("#") and line.strip()]
    if not body:
        raise ScoreError(f"{path}: no variant table after the header")
    table = pd.DataFrame([row.split("\t") for row in body[1:]], columns=body[0].split("\t"))
    missing = [c for c in REQUIRED if c not in table.columns]
    chrom = "hm_chr" if "hm_chr" in table.columns else "chr_name"
    pos = "hm_pos" if "hm_pos" in table.columns else "chr_position"
    if missing or chrom not in table.columns or pos not in table.columns:
        raise ScoreError(f"{path}: needs columns effect_allele, effect_weight and chr_name/chr_position "
                         "(or hm_chr/hm_pos)")
    variants = pd.DataFrame({
        "chrom": table[chrom].str.removeprefix("chr"), "pos": pd.to_numeric(table[pos], errors="coerce"),
        "effect_allele": table["effect_allele"].str.upper(),
        "other_allele": table.get("other_allele", pd.Series("", index=table.index)).str.upper(),
        "effect_weight": pd.to_numeric(table["effect_weight"], errors="coerce"),
    })
    bad = variants[["pos", "effect_weight"]].isna().any(axis=1)
    if bad.any():
        line = int(np.flatnonzero(bad)[0]) + len(lines) - len(body) + 2
        raise ScoreError(f"{path}: line {line}: chr_position and effect_weight must be numbers")
    return ScoringFile(path, header, variants.astype({"pos": int}))


def wanted_sites(scores: list[ScoringFile]) -> set[tuple[str, int]]:
    return {site_key(c, p) for s in scores for c, p in zip(s.variants["chrom"], s.variants["pos"])}


def score_vcf(vcf_path: Path, scoring: ScoringFile, min_overlap: float = 0.75) -> ScoreResult:
    """Score one VCF with one scoring file, reading only the score's sites."""
    return score(read_genotypes(vcf_path, wanted_sites([scoring])), scoring, min_overlap)


def score(genotypes: Genotypes, scoring: ScoringFile, min_overlap: float = 0.75) -> ScoreResult:
    """Per-sample weighted effect-allele sums, with a per-variant match report."""
    statuses, rows, flips, weights = [], [], [], []
    for v in scoring.variants.itertuples(index=False):
        row = genotypes.sites.get(site_key(v.chrom, v.pos))
        status = _match(genotypes, row, v.effect_allele, v.other_allele)
        statuses.append(status)
        if status.startswith("matched"):
            rows.append(row)
            flips.append(status == "matched (effect allele is REF)")
            weights.append(v.effect_weight)
    report = scoring.variants.assign(status=statuses)
    matched = len(rows) / max(len(scoring.variants), 1)
    if matched < min_overlap:
        raise ScoreError(f"{scoring.pgs_id}: only {matched:.0%} of {len(scoring.variants)} variants matched the "
                         f"VCF (minimum {min_overlap:.0%}); see the match report")
    dosage = genotypes.alt_dosage[rows].astype(np.float64)
    missing = dosage < 0
    effect = np.where(np.array(flips)[:, None], 2 - dosage, dosage)
    effect[missing] = 0.0
    sums = np.asarray(weights) @ effect
    index = pd.Index(genotypes.samples, name="sample")
    return ScoreResult(scoring.pgs_id, pd.Series(sums, index=index), pd.Series(missing.sum(axis=0), index=index),
                       report)


def _match(genotypes: Genotypes, row: int | None, effect: str, other: str) -> str:
    if row is None:
        return "missing from VCF"
    site = genotypes.records[row]
    alt = site.alts[0]
    if effect == alt and other in ("", site.ref):
        return "matched"
    if effect == site.ref and other in ("", alt):
        return "matched (effect allele is REF)"
    return "allele mismatch"
