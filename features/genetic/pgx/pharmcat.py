"""PharmCAT outputs as input: ``report.tsv`` (3.x calls-only format) and outside-call files; and writing
outside-call files from pmed's own calls.

Formats follow PharmCAT's CallsOnlyFormat writer and docs/using/Outside-Call-Format.md. Unknown genes,
alleles outside pmed's CPIC tables, unreadable scores and disagreements with the CPIC tables are
quarantined with file, line, field and rule; nothing is guessed. Values are never copied into the
quarantine (they may identify a patient), only where to find them.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from features.genetic.pgx.calls import calls_frame
from features.genetic.pgx.tables import Gene, genes
from features.quarantine import Quarantine

REPORT_COLUMNS = ["Gene", "Source Diplotype", "Phenotype", "Activity Score", "Missing positions"]
PHENOTYPE_SYNONYMS = {"PM": "Poor Metabolizer", "IM": "Intermediate Metabolizer", "NM": "Normal Metabolizer",
                      "EM": "Normal Metabolizer", "RM": "Rapid Metabolizer", "UM": "Ultrarapid Metabolizer"}
ALLELE_SYNONYMS = {("VKORC1", "-1639G"): "rs9923231 reference (C)", ("VKORC1", "-1639A"): "rs9923231 variant (T)"}
EMPTY = {"", "n/a", "N/A", "No Result", "Not called"}


class PharmcatError(ValueError):
    """The file cannot be read at all (no header, wrong format); names file, line, field and rule."""


def sample_from_name(path: Path) -> str:
    """PharmCAT names files <sample>.report.tsv / <sample>.outside.tsv; strip those suffixes."""
    return re.sub(r"(\.pharmcat)?\.(report|outside)(\.tsv|\.txt)?$|\.(tsv|txt)$", "", path.name)


def read_report(path: Path, quarantine: Quarantine, sample: str | None = None) -> pd.DataFrame:
    """One output row per gene row of a PharmCAT report.tsv (single-file mode's Sample ID honoured)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next((i for i, line in enumerate(lines[:5]) if line.split("\t")[0] in ("Gene", "Sample ID")), None)
    if start is None:
        raise PharmcatError(f"{path}: line 1, field Gene: no 'Gene' header in the first 5 lines "
                            "(expected PharmCAT 3.x report.tsv)")
    header = lines[start].split("\t")
    missing = [c for c in REPORT_COLUMNS if c not in header]
    if missing:
        raise PharmcatError(f"{path}: line {start + 1}, field {missing[0]}: column missing from the header")
    rows, seen = [], set()
    for number, line in enumerate(lines[start + 1:], start=start + 2):
        if not line.strip():
            continue
        fields = dict(zip(header, line.split("\t"), strict=False))  # a short row: its missing fields read as ""
        who = fields.get("Sample ID", "").strip() or sample or sample_from_name(path)
        row = _report_row(path, number, who, fields, quarantine)
        if row is not None and (who, row["gene"]) in seen:
            quarantine.add(path.name, np.array([number]), "Gene", "gene repeated for the same sample")
        elif row is not None:
            seen.add((who, row["gene"]))
            rows.append(row)
    return calls_frame(rows)


def _report_row(path: Path, line: int, sample: str, fields: dict[str, str], quarantine: Quarantine
                ) -> dict[str, object] | None:
    def reject(field: str, rule: str) -> None:
        quarantine.add(path.name, np.array([line]), field, rule)

    gene = genes().get(fields.get("Gene", "").strip())
    if gene is None:
        reject("Gene", "gene not in pmed's CPIC tables")
        return None
    source = fields.get("Source Diplotype", "").strip()
    base = {"sample": sample, "gene": gene.name, "source": "pharmcat_report"}
    if source.lower() in ("no call", "") or source in EMPTY:
        return {**base, "call_quality": "incomplete", "reason": "PharmCAT: no call"}
    if " AND " in source:  # lowest-function genes (DPYD) unphased: single variants, phase unknown
        if any(ALLELE_SYNONYMS.get((gene.name, a), a) not in gene.alleles for a in source.split(" AND ")):
            reject("Source Diplotype", "allele not in pmed's CPIC tables for this gene")
            return None
        return {**base, "call_quality": "ambiguous",
                "reason": f"PharmCAT lists variants without phase: {source}; diplotype not assumed"}
    parsed = [_diplotype(gene, d) for d in source.split(" OR ")]
    options = [d for d in parsed if d is not None]
    if len(options) < len(parsed):
        reject("Source Diplotype", "allele not in pmed's CPIC tables for this gene")
        return None
    phenotypes = {gene.phenotype(*d) for d in options}
    scores = {gene.activity_score(*d) for d in options}
    theirs, problem = _their_values(fields)
    if problem:
        reject(*problem)
        return None
    if len(options) == 1 and not _agrees(phenotypes, scores, theirs):
        reject("Phenotype", "PharmCAT's phenotype or activity score differs from the CPIC table for the diplotype")
        return None
    missing = fields.get("Missing positions", "").strip().lower() not in ("no", "")
    quality = "ambiguous" if len(options) > 1 else "incomplete" if missing else "called"
    reasons = [f"PharmCAT: {source}" if len(options) > 1 else "",
               "PharmCAT reports missing positions" if missing else "",
               "outside call" if fields.get("Outside Call", "").strip() == "yes" else ""]
    return {**base, "diplotype": gene.diplotype(*options[0]) if len(options) == 1 else None,
            "phenotype": phenotypes.pop() if len(phenotypes) == 1 else None,
            "activity_score": scores.pop() if len(scores) == 1 else None,
            "call_quality": quality, "reason": "; ".join(r for r in reasons if r)}


def _their_values(fields: dict[str, str]) -> tuple[tuple[str | None, float | None], tuple[str, str] | None]:
    phenotype = fields.get("Phenotype", "").strip()
    score_text = fields.get("Activity Score", "").strip()
    score = None
    if score_text not in EMPTY and " / " not in score_text:
        try:
            score = float(score_text)
        except ValueError:
            return (None, None), ("Activity Score", "not a number")
    return (None if phenotype in EMPTY or " / " in phenotype else phenotype, score), None


def _agrees(phenotypes: set[str | None], scores: set[float | None], theirs: tuple[str | None, float | None]
            ) -> bool:
    phenotype, score = theirs
    ours_p, ours_s = next(iter(phenotypes)), next(iter(scores))
    return ((phenotype is None or ours_p is None or phenotype == ours_p)
            and (score is None or ours_s is None or math.isclose(score, ours_s)))


def _diplotype(gene: Gene, text: str) -> tuple[str, str] | None:
    parts = [ALLELE_SYNONYMS.get((gene.name, a.strip()), a.strip()) for a in text.split("/")]
    if len(parts) != 2 or any(a not in gene.alleles for a in parts):
        return None
    return tuple(gene.diplotype(*parts).split("/", 1))  # type: ignore[return-value]


def read_outside_calls(path: Path, quarantine: Quarantine, sample: str | None = None) -> pd.DataFrame:
    """Gene, diplotype, phenotype, activity score per line; '#' lines are comments (PharmCAT -po format).

    As in PharmCAT, a given activity score wins for activity-score genes and a given phenotype for the
    others; where a diplotype is also given and disagrees, the row is kept with a warning in ``reason``.
    """
    who = sample or sample_from_name(path)
    rows, seen = [], set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        row = _outside_row(path, number, who, fields, quarantine)
        if row is not None and row["gene"] in seen:
            quarantine.add(path.name, np.array([number]), "gene", "gene repeated in one outside-call file")
        elif row is not None:
            seen.add(row["gene"])
            rows.append(row)
    return calls_frame(rows)


def _outside_row(path: Path, line: int, sample: str, fields: list[str], quarantine: Quarantine
                 ) -> dict[str, object] | None:
    def reject(field: str, rule: str) -> None:
        quarantine.add(path.name, np.array([line]), field, rule)

    if len(fields) > 4:
        reject("line", f"{len(fields)} tab-separated fields; the format has at most 4")
        return None
    gene_name, diplotype_text, phenotype, score_text = [*fields, "", "", ""][:4]
    gene = genes().get(gene_name)
    if gene is None:
        reject("gene", "gene not in pmed's CPIC tables")
        return None
    if not (diplotype_text or phenotype or score_text):
        reject("diplotype", "none of diplotype, phenotype or activity score given")
        return None
    diplotype = _diplotype(gene, diplotype_text) if diplotype_text else None
    if diplotype_text and diplotype is None:
        reject("diplotype", "allele not in pmed's CPIC tables for this gene, or not two alleles")
        return None
    term = PHENOTYPE_SYNONYMS.get(phenotype, phenotype) or None
    known = {p for lo, hi, p in gene.score_rules} | set(gene.function_rules.values()) | {"Indeterminate"}
    if term is not None and term not in known:
        reject("phenotype", "not a CPIC phenotype term for this gene")
        return None
    try:
        score = float(score_text) if score_text else None
    except ValueError:
        reject("activity score", "not a number")
        return None
    if score is not None and (not gene.uses_activity_score or gene.phenotype_for_score(score) is None):
        reject("activity score", "gene has no CPIC activity score, or score outside the CPIC ranges")
        return None
    return _resolve(sample, gene, diplotype, term, score)


def _resolve(sample: str, gene: Gene, diplotype: tuple[str, str] | None, phenotype: str | None,
             score: float | None) -> dict[str, object]:
    expected_p = gene.phenotype(*diplotype) if diplotype else None
    expected_s = gene.activity_score(*diplotype) if diplotype else None
    if score is None and gene.uses_activity_score:
        score = expected_s
    if gene.uses_activity_score and score is not None:
        final_p = gene.phenotype_for_score(score)
    else:
        final_p = phenotype or expected_p
    checks = (("given phenotype differs from the CPIC phenotype of the diplotype",
               phenotype is not None and expected_p is not None and phenotype != expected_p),
              ("given phenotype differs from the phenotype of the given activity score",
               phenotype is not None and final_p is not None and phenotype != final_p),
              ("given activity score differs from the CPIC score of the diplotype",
               score is not None and expected_s is not None and not math.isclose(score, expected_s)))
    warnings = [text for text, bad in checks if bad]
    return {"sample": sample, "gene": gene.name, "diplotype": gene.diplotype(*diplotype) if diplotype else None,
            "phenotype": final_p, "activity_score": score, "call_quality": "called",
            "reason": "; ".join(["outside call", *warnings]), "source": "outside_call"}


def write_outside_calls(calls: pd.DataFrame, out_dir: Path) -> list[Path]:
    """One PharmCAT outside-call file per sample: <sample>.outside.tsv, for PharmCAT's -po option.

    A diplotype is written only when called; a phenotype or activity score whenever it is determined
    (also for ambiguous calls whose readings all agree). Genes with nothing determined are left out, so
    PharmCAT can still call them from the VCF.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for sample, rows in calls.groupby("sample", sort=False):
        if not re.fullmatch(r"[A-Za-z0-9._-]+", str(sample)):
            raise PharmcatError(f"sample name {sample!r} cannot be a file name (letters, digits, . _ - only)")
        lines = ["# PharmCAT outside calls written by pmed from CPIC tables (features/data/pgx_*.csv)"]
        for r in rows.itertuples():
            diplotype = r.diplotype if r.call_quality == "called" and isinstance(r.diplotype, str) else ""
            phenotype = r.phenotype if isinstance(r.phenotype, str) else ""
            score = "" if pd.isna(r.activity_score) else f"{r.activity_score:.1f}"
            if diplotype or phenotype or score:
                lines.append(f"{r.gene}\t{diplotype}\t{phenotype}\t{score}".rstrip("\t"))
        path = out_dir / f"{sample}.outside.tsv"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
