"""labs.csv: patient_id, loinc, value, unit, effective_date (vital signs such as SBP and BMI included).

Each lab feature takes the most recent value in the look-back window ending at the index date. Values
after the index date are never used (they would leak the future into the model). Units are converted
to the registry's unit through features/data/lab_units.csv; an unknown unit is quarantined, not guessed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.codes import lab_units
from features.parsing import blank, parse_dates, parse_numbers, read_raw_csv
from features.quarantine import Quarantine, SourceCheck, SourceCounts
from features.registry import FEATURES

COLUMNS = ["patient_id", "loinc", "value", "unit", "effective_date"]
LOOKBACK_DAYS = 3 * 365
LAB_FEATURES = {f.loinc: f for f in FEATURES if f.loinc}


def read_labs(path: Path, patients: pd.DataFrame, quarantine: Quarantine,
              lookback_days: int = LOOKBACK_DAYS) -> tuple[pd.DataFrame, SourceCounts]:
    """A wide table (patient_id x lab feature) of the last value before each patient's index date."""
    check = SourceCheck(path.name, read_raw_csv(path, COLUMNS), quarantine)
    f = check.frame
    check.reject(blank(f["patient_id"]) | ~f["patient_id"].isin(patients.index), "patient_id",
                 "patient_id not in patients.csv")
    check.reject(parse_dates(check.frame["effective_date"]).isna(), "effective_date", "not a valid YYYY-MM-DD date")
    check.reject(parse_numbers(check.frame["value"]).isna(), "value", "value is not a number")
    check.ignore(~check.frame["loinc"].isin(LAB_FEATURES.keys()), "LOINC not used by any feature")
    _convert_units(check)
    _check_ranges(check)
    f = check.frame
    index = f["patient_id"].map(patients["index_date"])
    check.ignore(f["date"] > index, "after the index date")
    f = check.frame
    index = f["patient_id"].map(patients["index_date"])
    check.ignore(f["date"] < index - pd.Timedelta(days=lookback_days), "before the look-back window")
    latest = check.frame.sort_values(["patient_id", "feature", "date"], kind="stable")
    check.ignore(latest.duplicated(["patient_id", "feature"], keep="last").reindex(check.frame.index),
                 "superseded by a more recent value")
    used = check.finish()
    wide = used.pivot(index="patient_id", columns="feature", values="canonical_value")
    return wide.reindex(columns=[f.name for f in LAB_FEATURES.values()]), check.counts


def _convert_units(check: SourceCheck) -> None:
    frame = check.frame.merge(lab_units(), on=["loinc", "unit"], how="left").set_axis(check.frame.index)
    for (loinc, unit), _ in frame[frame["factor"].isna()].groupby(["loinc", "unit"]):
        bad = (frame["loinc"] == loinc) & (frame["unit"] == unit) & frame["factor"].isna()
        check.reject(bad.reindex(check.frame.index, fill_value=False), "unit",
                     f"unit '{unit[:20]}' not recognised for LOINC {loinc}")
    frame = frame.loc[check.frame.index]
    value = parse_numbers(frame["value"]) * frame["factor"] + frame["offset"]
    check.frame = check.frame.assign(canonical_value=value, feature=frame["loinc"].map(
        {k: f.name for k, f in LAB_FEATURES.items()}), date=parse_dates(frame["effective_date"]))


def _check_ranges(check: SourceCheck) -> None:
    for feature in LAB_FEATURES.values():
        f = check.frame
        bad = (f["feature"] == feature.name) & ~f["canonical_value"].between(feature.min, feature.max)
        check.reject(bad, "value", f"{feature.display_name} outside {feature.min:g}-{feature.max:g} {feature.unit}")
