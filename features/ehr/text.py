"""Fast parsing of large text columns (the labs hot path), with the same strict rules as features/parsing.py.

At 5 million lab rows pandas spends most of the build turning text into numbers and dates (measured in
bench/features_bench.py); polars does the same parse in native code. What fails to parse becomes
NaN / NaT, never a guess, exactly as with ``features.parsing``.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import polars as pl

ISO_DATE = r"^\d{4}-\d{1,2}-\d{1,2}$"  # what pandas' format="%Y-%m-%d" accepts (no sign, no time)


def read_text_csv(path: Path, required: list[str]) -> pd.DataFrame:
    """Every column as text (empty cells as ""), read by polars' multi-threaded CSV reader."""
    frame = pl.read_csv(path, infer_schema=False).fill_null("")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(required)})")
    return frame.to_pandas(use_pyarrow_extension_array=True)


def _polars(column: pd.Series) -> pl.Series:
    # a pandas Series in, a polars Series out (pandas is untyped here, so mypy would pick the DataFrame overload)
    return cast(pl.Series, pl.from_pandas(column.astype(str))).cast(pl.String).str.strip_chars()


def to_numbers(column: pd.Series) -> np.ndarray:
    """Text -> float (NaN where not a number; 'inf' stays inf, for the caller's rule)."""
    return _polars(column).cast(pl.Float64, strict=False).fill_null(np.nan).to_numpy()


def to_dates(column: pd.Series) -> np.ndarray:
    """Text YYYY-MM-DD -> datetime64[ns] (NaT for impossible dates such as 2015-02-30 or other shapes)."""
    text = _polars(column)
    dates = text.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    return pl.select(pl.when(text.str.contains(ISO_DATE)).then(dates)).to_series().cast(pl.Datetime("ns")).to_numpy()
