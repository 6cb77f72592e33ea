"""Strict parsers for raw text columns: a value that does not parse becomes NaN/NaT, never a guess."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def parse_dates(column: pd.Series) -> pd.Series:
    """ISO dates (YYYY-MM-DD) only; impossible dates such as 2015-02-30 become NaT."""
    return pd.to_datetime(column.str.strip(), format="%Y-%m-%d", errors="coerce")


def parse_numbers(column: pd.Series) -> pd.Series:
    return pd.to_numeric(column.str.strip(), errors="coerce")


def blank(column: pd.Series) -> pd.Series:
    return column.str.strip() == ""


def read_raw_csv(path: Path, required: list[str]) -> pd.DataFrame:
    """Read every column as text so that parsing, and its failures, happen under our rules."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(required)})")
    return frame
