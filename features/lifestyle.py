"""lifestyle.csv, the questionnaire: patient_id, completed_date, smoking_status (never/former/current),
pack_years, physical_activity_min_wk, alcohol_units_wk, diet_quality_score (0-10), sleep_hours.

An unanswered question is a missing value; an answer outside its valid range (the registry's), pack-years
for a never smoker, or a questionnaire completed after the index date never reaches the features. Where
a patient answered more than once, the latest questionnaire on or before the index date is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.ehr.patients import NO_PATIENT
from features.parsing import blank, parse_dates, parse_numbers, read_raw_csv
from features.quarantine import Quarantine, SourceCheck, SourceCounts
from features.registry import REGISTRY

NUMERIC = ["pack_years", "physical_activity_min_wk", "alcohol_units_wk", "diet_quality_score", "sleep_hours"]
COLUMNS = ["patient_id", "completed_date", "smoking_status", *NUMERIC]
SMOKING = ("never", "former", "current")


def read_lifestyle(path: Path, patients: pd.DataFrame, quarantine: Quarantine) -> tuple[pd.DataFrame, SourceCounts]:
    check = SourceCheck(path.name, read_raw_csv(path, COLUMNS), quarantine)
    check.reject(blank(check.frame["patient_id"]) | ~check.frame["patient_id"].isin(patients.index),
                 "patient_id", NO_PATIENT)
    check.reject(parse_dates(check.frame["completed_date"]).isna(), "completed_date", "not a valid YYYY-MM-DD date")
    status = check.frame["smoking_status"].str.strip().str.lower()
    check.reject(~status.isin(SMOKING) & ~blank(status), "smoking_status", "must be never, former or current")
    for column in NUMERIC:
        feature = REGISTRY[column]
        value = parse_numbers(check.frame[column])
        check.reject(~blank(check.frame[column]) & (value.isna() | np.isinf(value)), column, "not a number")
        value = parse_numbers(check.frame[column])
        check.reject(value.notna() & ~value.between(feature.min, feature.max), column,
                     f"outside {feature.min:g}-{feature.max:g} {feature.unit}")
    never = check.frame["smoking_status"].str.strip().str.lower() == "never"
    check.reject(never & (parse_numbers(check.frame["pack_years"]) > 0), "pack_years",
                 "pack-years above 0 for a never smoker")
    completed = parse_dates(check.frame["completed_date"])
    check.ignore(completed > check.frame["patient_id"].map(patients["index_date"]), "completed after the index date")
    latest = check.frame.assign(_completed=parse_dates(check.frame["completed_date"])).sort_values(
        ["patient_id", "_completed"], kind="stable")
    check.ignore(latest["patient_id"].duplicated(keep="last").reindex(check.frame.index),
                 "superseded by a later questionnaire")
    used = check.finish().set_index("patient_id")
    status = used["smoking_status"].str.strip().str.lower()
    features = pd.DataFrame({c: parse_numbers(used[c]) for c in NUMERIC}, index=used.index)
    features["current_smoker"] = np.where(status == "current", 1.0, np.where(status.isin(SMOKING), 0.0, np.nan))
    features.loc[status == "never", "pack_years"] = features.loc[status == "never", "pack_years"].fillna(0.0)
    return features.reindex(patients.index), check.counts
