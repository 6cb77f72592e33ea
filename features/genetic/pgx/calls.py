"""One row per sample and gene: the output frame shared by the VCF caller and the PharmCAT readers."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.genetic.pgx.caller import GeneCall, call_gene
from features.genetic.pgx.genotypes import Call, read_phased
from features.genetic.pgx.tables import genes

CALL_COLUMNS = ["sample", "gene", "diplotype", "phenotype", "activity_score", "call_quality", "reason", "source"]
CALL_QUALITIES = ("called", "ambiguous", "incomplete", "unmatched")
# a sample's calls at a gene: (rsid, bases, phased, phase set renumbered by first appearance) per position
_Signature = tuple[tuple[str, tuple[str, str] | None, bool, int | None], ...]


def call_vcf(path: Path, assume_trans: bool = False) -> pd.DataFrame:
    """Call every gene of the CPIC tables for every sample of the VCF (sample order kept)."""
    table = genes()
    positions = [p for g in table.values() for p in g.positions]
    genotypes = read_phased(path, positions)
    rows = []
    for gene in table.values():
        problems = {p.rsid: genotypes.problems[p.rsid] for p in gene.positions if p.rsid in genotypes.problems}
        cache: dict[_Signature, GeneCall] = {}
        for i, sample in enumerate(genotypes.samples):
            calls = {p.rsid: genotypes.calls[p.rsid][i] for p in gene.positions if p.rsid in genotypes.calls}
            key = _signature(calls)
            if key not in cache:
                cache[key] = call_gene(gene, calls, assume_trans)
            rows.append(_row(sample, cache[key], problems))
    return calls_frame(rows)


def _signature(calls: dict[str, Call]) -> _Signature:
    """Calls with phase sets renumbered by first appearance, so equal genotypes share one result."""
    order: dict[object, int] = {}
    return tuple((rsid, c.bases, c.phased, order.setdefault(c.phase_set, len(order)) if c.phased else None)
                 for rsid, c in sorted(calls.items()))


def _row(sample: str, call: GeneCall, problems: dict[str, str]) -> dict[str, object]:
    reason = call.reason
    if problems:
        reason = "; ".join([reason, *(f"{rsid}: {why}" for rsid, why in problems.items())]).strip("; ")
    return {"sample": sample, "gene": call.gene, "diplotype": call.diplotype, "phenotype": call.phenotype,
            "activity_score": call.activity_score, "call_quality": call.call_quality, "reason": reason,
            "source": "vcf"}


def calls_frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    """The output frame: text columns hold None (not NaN) where empty, the score is float64."""
    frame = pd.DataFrame(rows, columns=CALL_COLUMNS).astype({"activity_score": "float64"})
    for column in ("diplotype", "phenotype", "reason"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    frame["reason"] = frame["reason"].fillna("")
    return frame


def quality_counts(frame: pd.DataFrame) -> dict[str, int]:
    counts = frame["call_quality"].value_counts()
    return {q: int(counts.get(q, 0)) for q in CALL_QUALITIES if counts.get(q, 0)}
