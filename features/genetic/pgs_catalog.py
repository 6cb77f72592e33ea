"""PGS Catalog scoring files (format 2.0), plain or gzipped, parsed into one typed variant table.

The ``#key=value`` header (``pgs_id``, ``genome_build``, ``license``, ...) is kept as a dict. Positions come
from the harmonised ``hm_chr``/``hm_pos`` columns when the file has them (they are on ``HmPOS_build``; the
author's ``chr_name``/``chr_position`` may be on another build), else from ``chr_name``/``chr_position``.
A row without a position is matched by rsID (``hm_rsID``, else ``rsID``). The table is read by pandas in
one call, so a file of millions of variants costs seconds; a bad value stops the read with the file, line,
field and rule, because a silently dropped weight changes every patient's score.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

REQUIRED = ("effect_allele", "effect_weight")
# additive weights only; rows flagged otherwise are excluded by the matcher with this reason
_NON_ADDITIVE = {"is_haplotype": "haplotype", "is_diplotype": "diplotype", "is_interaction": "interaction term",
                 "is_dominant": "dominant effect", "is_recessive": "recessive effect"}
_ALLELE = r"^[ACGTN]+$"


class ScoreError(ValueError):
    """A scoring file is malformed or its variants do not overlap the genotypes enough."""


@dataclass(frozen=True)
class ScoringFile:
    path: Path
    header: dict[str, str]
    # line, rsid, chrom, pos (0 = none), effect_allele, other_allele ("" = not given), effect_weight,
    # unsupported ("" or why the row cannot be scored additively)
    variants: pd.DataFrame
    harmonised: bool = False

    @property
    def pgs_id(self) -> str:
        return self.header.get("pgs_id") or self.path.name.split(".")[0]

    @property
    def genome_build(self) -> str | None:
        """The build the positions used for matching are on (NR, not reported, counts as unknown)."""
        build = self.header.get("HmPOS_build" if self.harmonised else "genome_build", "")
        return None if build in ("", "NR") else build


def read_scoring_file(path: Path) -> ScoringFile:
    """Parse a scoring file; raises ScoreError naming the file, line and field of the first bad value."""
    path = Path(path)
    header, n_header = _read_header(path)
    try:
        table = pd.read_csv(path, sep="\t", skiprows=n_header, dtype=str, keep_default_na=False,
                            skip_blank_lines=False, compression="infer", quoting=3, engine="c")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ScoreError(f"{path}: the variant table after line {n_header} is not tab-separated text: {exc}") from exc
    column_line = n_header + 1
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ScoreError(f"{path}: line {column_line} (column names): missing column(s) {', '.join(missing)}")
    table = table[(table != "").any(axis=1)]  # blank lines; kept until now so line numbers stay exact
    lines = table.index.to_numpy() + column_line + 1
    harmonised = "hm_pos" in table.columns and "hm_chr" in table.columns
    chrom_col, pos_col = ("hm_chr", "hm_pos") if harmonised else ("chr_name", "chr_position")
    rsid_col = "hm_rsID" if "hm_rsID" in table.columns else "rsID"
    empty = pd.Series("", index=table.index)
    chrom, pos_text, rsid = (table.get(c, empty).str.strip() for c in (chrom_col, pos_col, rsid_col))
    if not harmonised and "chr_position" not in table.columns and "rsID" not in table.columns:
        raise ScoreError(f"{path}: line {column_line} (column names): needs chr_name/chr_position, hm_chr/hm_pos "
                         "or rsID to locate variants")
    variants = pd.DataFrame({
        "line": lines,
        "rsid": rsid,
        "chrom": chrom.str.removeprefix("chr").str.upper(),
        "pos": _integers(path, pos_text, lines, pos_col),
        "effect_allele": table["effect_allele"].str.strip().str.upper(),
        "other_allele": _other_allele(table, empty),
        "effect_weight": _numbers(path, table["effect_weight"], lines, "effect_weight"),
        "unsupported": _unsupported(table),
    }).reset_index(drop=True)
    _check_rows(path, variants, rsid_col, chrom_col)
    return ScoringFile(path, header, variants, harmonised)


def _read_header(path: Path) -> tuple[dict[str, str], int]:
    """``#key=value`` lines (other ``#`` lines are titles) and how many ``#`` lines precede the table."""
    opener = gzip.open if path.suffix == ".gz" else open
    header, count = {}, 0
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            for line in handle:
                if not line.startswith("#"):
                    break
                count += 1
                key, sep, value = line.lstrip("#").rstrip("\r\n").partition("=")
                if sep and not line.startswith("###"):
                    header[key.strip()] = value.strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ScoreError(f"{path}: cannot read the scoring file: {exc}") from exc
    return header, count


def _numbers(path: Path, text: pd.Series, lines: np.ndarray, field: str) -> pd.Series:
    """Weights exactly as written: the nearest double to each decimal string. pandas' own fast parser (its
    ``to_numeric`` before pandas 3) can land one unit in the last place off, so it only finds the bad cells and
    numpy's correctly rounded conversion reads the values."""
    stripped = text.str.strip()
    values = pd.to_numeric(stripped, errors="coerce")
    bad = values.isna().to_numpy() | ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ScoreError(f"{path}: line {lines[i]}: field {field}: {text.iloc[i]!r} is not a finite number "
                         f"({int(bad.sum())} bad row(s) in all)")
    return pd.Series(stripped.to_numpy(dtype=str).astype(np.float64), index=text.index)


def _integers(path: Path, text: pd.Series, lines: np.ndarray, field: str) -> pd.Series:
    """Positions; an empty cell is 0 (no position: match by rsID)."""
    values = pd.to_numeric(text.replace("", "0"), errors="coerce")
    bad = values.isna().to_numpy() | (values.to_numpy(dtype=float, na_value=-1) < 0) | (values % 1 != 0).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ScoreError(f"{path}: line {lines[i]}: field {field}: {text.iloc[i]!r} is not a position "
                         f"(a whole number >= 1)")
    return values.astype(np.int64)


def _other_allele(table: pd.DataFrame, empty: pd.Series) -> pd.Series:
    """``other_allele``, filled from the harmonised ``hm_inferOtherAllele`` where that names a single allele."""
    other = table.get("other_allele", empty).str.strip().str.upper()
    inferred = table.get("hm_inferOtherAllele", empty).str.strip().str.upper()
    return other.mask((other == "") & inferred.str.match(_ALLELE), inferred)


def _unsupported(table: pd.DataFrame) -> pd.Series:
    reason = pd.Series("", index=table.index)
    for column, what in _NON_ADDITIVE.items():
        if column in table.columns:
            flagged = table[column].str.strip().str.upper().isin(("TRUE", "1", "T", "YES"))
            reason = reason.mask(flagged & (reason == ""), f"{what} weights are not supported (additive only)")
    return reason


def _check_rows(path: Path, v: pd.DataFrame, rsid_col: str, chrom_col: str) -> None:
    """Every row must name an effect allele in DNA letters and be locatable (position with chromosome, or rsID)."""
    checks = [
        (~v["effect_allele"].str.match(_ALLELE), "effect_allele", "must be DNA letters (A, C, G, T)"),
        ((v["other_allele"] != "") & ~v["other_allele"].str.match(_ALLELE), "other_allele",
         "must be DNA letters (A, C, G, T) or empty"),
        ((v["pos"] > 0) & (v["chrom"] == ""), chrom_col, "is empty but the row has a position"),
        ((v["pos"] == 0) & (v["rsid"] == ""), rsid_col, "is empty and the row has no position either"),
    ]
    for bad, field, rule in checks:
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise ScoreError(f"{path}: line {v['line'].iloc[i]}: field {field}: {rule} "
                             f"({int(bad.sum())} bad row(s) in all)")
