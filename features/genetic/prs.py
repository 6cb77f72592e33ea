"""Polygenic risk scores from PGS Catalog scoring files and VCF genotypes, equal to plink2's ``SUM``.

Score = sum over the matched variants of effect-allele dosage x ``effect_weight`` (plink2 ``--score ...
cols=+scoresums``). Matching (``prs_match``) gives every score variant a status (matched / flipped /
excluded / missing) with a reason; a score that matches fewer than ``min_overlap`` (default 0.75, pgsc_calc's)
of its variants fails with ScoreError instead of producing a biased number.

Missing genotypes, a stated policy:
- ``"zero"`` (default, plink2 ``no-mean-imputation``): a no-call contributes 0, and each sample's no-calls
  over the matched variants are counted (``missing_calls``) so a caller can reject incomplete samples;
- ``"mean"``: a no-call contributes 2 x the effect allele's frequency among the called samples of this
  cohort (plink2's default mean imputation; only meaningful for a cohort, not a single patient).
A score position absent from the VCF is a no-call for every sample (reported ``missing``), never
homozygous reference: sequencing VCFs omit reference sites, and assuming reference biases the score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from features.genetic.calls import Calls, read_calls
from features.genetic.pgs_catalog import ScoreError, ScoringFile, read_scoring_file
from features.genetic.prs_match import STATUSES, USED, MatchPolicy, match_variants
from features.genetic.vcf import Genotypes

__all__ = ["MatchPolicy", "ScoreError", "ScoreResult", "ScoringFile", "read_scoring_file", "score", "score_many",
           "score_vcf", "wanted_ids", "wanted_sites"]

MissingPolicy = Literal["zero", "mean"]
_CHUNK = 32  # variants per block of the dosage x weight product: ~50 MB of float64 at 200,000 samples
REPORT_COLUMNS = ["pgs_id", "line", "rsid", "chrom", "pos", "effect_allele", "other_allele", "effect_weight",
                  "status", "reason", "orientation", "vcf_line"]


@dataclass(frozen=True)
class ScoreResult:
    pgs_id: str
    sums: pd.Series  # per sample
    missing_calls: pd.Series  # per sample: no-calls among the matched variants
    report: pd.DataFrame  # one row per score variant: status, reason, orientation, VCF line

    def counts(self) -> dict[str, int]:
        counts = self.report["status"].value_counts()
        return {s: int(counts[s]) for s in STATUSES if s in counts}


def wanted_sites(scores: list[ScoringFile]) -> set[tuple[str, int]]:
    """(chrom without 'chr', pos) of every score variant that has a position."""
    return {(c, int(p)) for s in scores for c, p in zip(s.variants["chrom"], s.variants["pos"], strict=True) if p > 0}


def wanted_ids(scores: list[ScoringFile]) -> set[str]:
    """rsIDs of score variants without a position (matched on the VCF ID column)."""
    return {r for s in scores for r in s.variants.loc[s.variants["pos"] == 0, "rsid"]}


def score_vcf(vcf_path: Path, scoring: ScoringFile, min_overlap: float = 0.75, policy: MatchPolicy = MatchPolicy(),
              missing: MissingPolicy = "zero") -> ScoreResult:
    """Score one VCF with one scoring file, reading only the score's sites."""
    calls = read_calls(vcf_path, wanted_sites([scoring]), wanted_ids([scoring]))
    return score_many(calls, [scoring], min_overlap, policy, missing)[0]


def score(genotypes: Genotypes | Calls, scoring: ScoringFile, min_overlap: float = 0.75,
          policy: MatchPolicy = MatchPolicy(), missing: MissingPolicy = "zero") -> ScoreResult:
    """One score on genotypes already read (by either reader)."""
    calls = genotypes if isinstance(genotypes, Calls) else calls_from_genotypes(genotypes)
    return score_many(calls, [scoring], min_overlap, policy, missing)[0]


def score_many(calls: Calls, scorings: list[ScoringFile], min_overlap: float = 0.75,
               policy: MatchPolicy = MatchPolicy(), missing: MissingPolicy = "zero") -> list[ScoreResult]:
    """Several scores in one pass over the dosages; raises ScoreError if any fails its overlap gate."""
    reports = match_all(calls, scorings, policy)
    failures = overlap_failures(reports, min_overlap)
    if failures:
        raise ScoreError("; ".join(failures))
    sums, missing_calls = weighted_sums(calls, list(reports.values()), missing)
    index = pd.Index(calls.samples, name="sample")
    return [ScoreResult(pgs_id, pd.Series(sums[:, k], index=index), pd.Series(missing_calls[:, k], index=index),
                        report) for k, (pgs_id, report) in enumerate(reports.items())]


def match_all(calls: Calls, scorings: list[ScoringFile], policy: MatchPolicy) -> dict[str, pd.DataFrame]:
    """Match reports by pgs_id (which must differ between the scoring files)."""
    reports: dict[str, pd.DataFrame] = {}
    for scoring in scorings:
        if scoring.pgs_id in reports:
            raise ScoreError(f"{scoring.path}: pgs_id {scoring.pgs_id} is also the id of an earlier scoring file")
        reports[scoring.pgs_id] = match_variants(scoring.variants, calls.sites, policy)
    return reports


def overlap_failures(reports: dict[str, pd.DataFrame], min_overlap: float) -> list[str]:
    """One message per score whose matched share is below ``min_overlap``."""
    failures = []
    for pgs_id, report in reports.items():
        used = int(report["status"].isin(USED).sum())
        share = used / max(len(report), 1)
        if share < min_overlap:
            failures.append(f"{pgs_id}: only {share:.0%} of {len(report)} variants matched the VCF ({used}; "
                            f"minimum {min_overlap:.0%}); see the match report for each variant's reason")
    return failures


def weighted_sums(calls: Calls, reports: list[pd.DataFrame], missing: MissingPolicy = "zero"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(samples x scores) sums of effect dosage x weight, and no-call counts, computed in variant blocks."""
    if missing not in ("zero", "mean"):
        raise ValueError(f"missing-genotype policy must be 'zero' or 'mean', not {missing!r}")
    used = pd.concat([r.loc[r["status"].isin(USED), ["record", "allele", "effect_weight"]].assign(score=k)
                      for k, r in enumerate(reports)], ignore_index=True)
    keys = used[["record", "allele"]].drop_duplicates().sort_values(["record", "allele"]).reset_index(drop=True)
    key_row = pd.MultiIndex.from_frame(keys).get_indexer(pd.MultiIndex.from_frame(used[["record", "allele"]]))
    weights = np.zeros((len(keys), len(reports)))
    np.add.at(weights, (key_row, used["score"].to_numpy()), used["effect_weight"].to_numpy())
    counted = np.zeros((len(keys), len(reports)), dtype=bool)
    counted[key_row, used["score"].to_numpy()] = True
    n = len(calls.samples)
    records, alleles = keys["record"].to_numpy(), keys["allele"].to_numpy()
    sums, no_calls = np.zeros((len(reports), n)), np.zeros((len(reports), n), dtype=np.int64)
    for start in range(0, len(keys), _CHUNK):
        rows = slice(start, start + _CHUNK)
        dosage = _block_dosage(calls, records[rows], alleles[rows])
        absent = dosage < 0
        effect = dosage.astype(np.float64)
        if missing == "mean":
            np.copyto(effect, _mean_dosage(effect, absent)[:, None], where=absent)
        else:
            np.maximum(effect, 0.0, out=effect)  # a no-call (-1) adds 0
        sums += weights[rows].T @ effect
        _add_no_calls(no_calls, absent, counted[rows])
    return sums.T, no_calls.T


def _block_dosage(calls: Calls, records: np.ndarray, alleles: np.ndarray) -> np.ndarray:
    """(variants x samples) int8 effect-allele dosages, -1 = no call.

    Biallelic records are gathered from the ALT-dosage matrix in one step (a REF effect allele is 2 - ALT),
    which at biobank scale is several times faster than building each row on its own."""
    if calls.allele_pairs and any(int(r) in calls.allele_pairs for r in records):
        return np.stack([calls.allele_dosage(int(r), int(a)) for r, a in zip(records, alleles, strict=True)])
    dosage = calls.alt_dosage[records]
    ref = alleles == 0
    if ref.any():
        alt = dosage[ref]
        dosage[ref] = np.where(alt < 0, np.int8(-1), np.int8(2) - alt)
    return dosage


def _add_no_calls(no_calls: np.ndarray, absent: np.ndarray, counted: np.ndarray) -> None:
    """Per score, add the no-calls of the block's variants it counts (bytes summed as int16: <= 32 per block)."""
    flags = absent.view(np.uint8)
    for k in range(no_calls.shape[0]):
        mask = counted[:, k]
        if mask.all():
            no_calls[k] += np.add.reduce(flags, axis=0, dtype=np.int16)
        elif mask.any():
            no_calls[k] += np.add.reduce(flags[mask], axis=0, dtype=np.int16)


def _mean_dosage(effect: np.ndarray, absent: np.ndarray) -> np.ndarray:
    """Mean effect dosage among called samples per variant (2 x allele frequency); 0 where none is called."""
    called = (~absent).sum(axis=1)
    total = np.where(absent, 0.0, effect).sum(axis=1)
    return np.divide(total, called, out=np.zeros(len(called)), where=called > 0)


def calls_from_genotypes(genotypes: Genotypes) -> Calls:
    """The cyvcf2 reader's biallelic genotypes as Calls (records it rejected are simply absent)."""
    sites = pd.DataFrame({"chrom": [r.chrom for r in genotypes.records], "pos": [r.pos for r in genotypes.records],
                          "id": "", "ref": [r.ref.upper() for r in genotypes.records],
                          "alts": [tuple(a.upper() for a in r.alts) for r in genotypes.records], "line": 0})
    return Calls(list(genotypes.samples), sites, genotypes.alt_dosage, {}, genotypes.records_in)
