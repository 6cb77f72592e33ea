"""Code sets (ICD-10-CM, RxNorm) and lab unit conversions, read from the data files in features/data/."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import numpy as np
import pandas as pd


@cache
def code_sets() -> pd.DataFrame:
    return pd.read_csv(files("features") / "data" / "code_sets.csv", dtype=str)


@cache
def lab_units() -> pd.DataFrame:
    return pd.read_csv(files("features") / "data" / "lab_units.csv", dtype={"loinc": str, "unit": str})


def in_concept(codes: pd.Series, concept: str) -> np.ndarray:
    """True where a code belongs to the concept (prefix match for ICD-10-CM categories, exact otherwise)."""
    members = code_sets()[code_sets()["concept"] == concept]
    if members.empty:
        raise KeyError(f"no code set named {concept!r} in features/data/code_sets.csv")
    normalised = codes.str.strip().str.upper()
    hit = np.zeros(len(codes), dtype=bool)
    prefixes = members.loc[members["match"] == "prefix", "code"].str.upper()
    if len(prefixes):
        hit |= normalised.str.startswith(tuple(prefixes)).to_numpy()
    exact = set(members.loc[members["match"] == "exact", "code"].str.upper())
    return hit | normalised.isin(exact).to_numpy()
