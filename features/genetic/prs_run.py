"""`pmed features prs`: score one VCF with several scoring files, write the sums and the match report.

The match report is written before the overlap gate is checked, so a failed score can be diagnosed from
it; the sums table is written only when every score passes (a partial table is easy to mistake for a
complete one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from features.genetic.calls import read_calls
from features.genetic.prs import (
    REPORT_COLUMNS,
    MatchPolicy,
    MissingPolicy,
    ScoreError,
    match_all,
    overlap_failures,
    read_scoring_file,
    wanted_ids,
    wanted_sites,
    weighted_sums,
)
from features.genetic.prs_match import STATUSES


@dataclass(frozen=True)
class PrsOutputs:
    report: Path
    table: Path | None  # None when a score failed its overlap gate
    samples: int
    counts: dict[str, dict[str, int]]  # pgs_id -> status -> variants
    no_calls: dict[str, int] = field(default_factory=dict)  # pgs_id -> samples with at least one no-call
    failures: list[str] = field(default_factory=list)


def report_path(out: Path) -> Path:
    """The match report beside the output: scores.tsv -> scores.match.tsv."""
    return out.parent / f"{out.name.split('.')[0]}.match.tsv"


def run_prs(vcf: Path, scoring_paths: list[Path], out: Path, min_overlap: float = 0.75,
            policy: MatchPolicy = MatchPolicy(), missing: MissingPolicy = "zero") -> PrsOutputs:
    """One row per sample with ``<pgs_id>_SUM`` and ``<pgs_id>_MISSING_CT`` (no-calls among matched variants)."""
    if not scoring_paths:
        raise ScoreError("give at least one scoring file")
    scorings = [read_scoring_file(p) for p in scoring_paths]
    calls = read_calls(vcf, wanted_sites(scorings), wanted_ids(scorings))
    if not calls.samples:
        raise ScoreError(f"{vcf}: no samples (no #CHROM header line with sample columns)")
    reports = match_all(calls, scorings, policy)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = report_path(out)
    pd.concat([r.assign(pgs_id=pgs_id) for pgs_id, r in reports.items()])[REPORT_COLUMNS].to_csv(
        report, sep="\t", index=False)
    counts = {pgs_id: {s: int((r["status"] == s).sum()) for s in STATUSES} for pgs_id, r in reports.items()}
    failures = overlap_failures(reports, min_overlap)
    if failures:
        return PrsOutputs(report, None, len(calls.samples), counts, failures=failures)
    sums, no_calls = weighted_sums(calls, list(reports.values()), missing)
    table = pd.DataFrame({"sample": calls.samples})
    for k, pgs_id in enumerate(reports):
        table[f"{pgs_id}_SUM"] = sums[:, k]
        table[f"{pgs_id}_MISSING_CT"] = no_calls[:, k]
    _write_table(table, out)
    return PrsOutputs(report, out, len(calls.samples), counts,
                      {pgs_id: int((no_calls[:, k] > 0).sum()) for k, pgs_id in enumerate(reports)})


def _write_table(table: pd.DataFrame, out: Path) -> None:
    if out.suffix == ".parquet":
        table.to_parquet(out, index=False)
    else:
        table.to_csv(out, sep="," if out.suffix == ".csv" else "\t", index=False)
