"""Code sets (ICD-10-CM, SNOMED CT, RxNorm, ATC) and UCUM lab units, read from the data files in features/data/.

Terminology lives in data files that name their sources, so a site can review or extend a code set without
touching code. Unit conversion is keyed by (LOINC, UCUM code): a unit not listed for that LOINC has no
conversion and is quarantined by the caller, never guessed.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

import numpy as np
import pandas as pd

CODE_SYSTEMS_IN = {"diagnoses": ("ICD-10-CM", "SNOMED CT"), "medications": ("RxNorm", "ATC")}


def _data(name: str, **kwargs: object) -> pd.DataFrame:
    return pd.read_csv(files("features") / "data" / name, **kwargs)


@cache
def code_sets() -> pd.DataFrame:
    return _data("code_sets.csv", dtype=str)


@cache
def code_systems() -> dict[str, str]:
    """FHIR system URI -> the system's short name used in the code sets and the CSV contract."""
    table = _data("code_systems.csv", dtype=str)
    return dict(zip(table["uri"], table["system"], strict=True))


@cache
def lab_units() -> pd.DataFrame:
    return _data("lab_units.csv", dtype={"loinc": str, "unit": str, "canonical_unit": str})


@cache
def unit_spellings() -> dict[str, str]:
    """Common spellings (``mg/dl``, ``mmHg``) -> the UCUM code; anything else is taken as written."""
    table = _data("unit_spellings.csv", dtype=str, keep_default_na=False)
    return dict(zip(table["spelling"], table["ucum"], strict=True))


def ucum_code(units: pd.Series) -> pd.Series:
    """The UCUM code of each unit string: trimmed, common spellings mapped, the rest left as written."""
    trimmed = units.astype(str).str.strip()
    return trimmed.map(unit_spellings()).fillna(trimmed)


def conversion(loinc: pd.Series, unit: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(factor, offset) taking each value to its LOINC's canonical unit; NaN where the unit is unknown."""
    table = lab_units()
    keys = table["loinc"] + "|" + table["unit"]
    wanted = loinc.astype(str) + "|" + ucum_code(unit)
    factor = wanted.map(dict(zip(keys, table["factor"].astype(float), strict=True)))
    offset = wanted.map(dict(zip(keys, table["offset"].astype(float), strict=True)))
    return factor.astype(float), offset.astype(float)


def to_canonical(loinc: pd.Series, unit: pd.Series, value: pd.Series) -> pd.Series:
    """Values in their LOINC's canonical unit (``value * factor + offset``); NaN where the unit is unknown."""
    factor, offset = conversion(loinc, unit)
    return value.astype(float) * factor + offset


def in_concept(codes: pd.Series, concept: str, systems: pd.Series | None = None) -> np.ndarray:
    """True where a code belongs to the concept (prefix match for ICD-10-CM categories, exact otherwise).

    ``systems`` names each code's system (ICD-10-CM, SNOMED CT, RxNorm, ATC); without it every system of
    the concept is tried (the legacy single-system CSV columns).
    """
    members = code_sets()[code_sets()["concept"] == concept]
    if members.empty:
        raise KeyError(f"no code set named {concept!r} in features/data/code_sets.csv")
    normalised = codes.astype(str).str.strip().str.upper()
    hit = np.zeros(len(codes), dtype=bool)
    for system, group in members.groupby("system"):
        in_system = np.ones(len(codes), dtype=bool) if systems is None else (systems == system).to_numpy()
        prefixes = tuple(group.loc[group["match"] == "prefix", "code"].str.upper())
        if prefixes:
            hit |= in_system & normalised.str.startswith(prefixes).to_numpy()
        exact = set(group.loc[group["match"] == "exact", "code"].str.upper())
        hit |= in_system & normalised.isin(exact).to_numpy()
    return hit
