"""patients.csv: patient_id, birth_date, sex (M/F), index_date, ancestry, site (one row per patient).

FHIR Patient resources arrive through ``check_patients`` as the same text columns (features/ehr/fhir.py).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.parsing import blank, parse_dates, read_raw_csv
from features.quarantine import Quarantine, SourceCheck, SourceCounts

COLUMNS = ["patient_id", "birth_date", "sex", "index_date", "ancestry", "site"]
NO_PATIENT = "no such patient among the patients read"


def age_in_years(birth: pd.Series, index: pd.Series) -> pd.Series:
    """Completed years between two dates (the age a clinician would write down)."""
    before_birthday = (index.dt.month < birth.dt.month) | (
        (index.dt.month == birth.dt.month) & (index.dt.day < birth.dt.day))
    return index.dt.year - birth.dt.year - before_birthday.astype(int)


def read_patients(path: Path, quarantine: Quarantine) -> tuple[pd.DataFrame, SourceCounts]:
    return check_patients(SourceCheck(path.name, read_raw_csv(path, COLUMNS), quarantine))


def check_patients(check: SourceCheck) -> tuple[pd.DataFrame, SourceCounts]:
    """Valid patients with parsed dates and age; duplicates after the first row are quarantined."""
    check.reject(blank(check.frame["patient_id"]), "patient_id", "patient_id is empty")
    check.reject(check.frame["patient_id"].duplicated(), "patient_id", "patient_id repeats an earlier row")
    check.reject(parse_dates(check.frame["birth_date"]).isna(), "birth_date", "not a valid YYYY-MM-DD date")
    check.reject(parse_dates(check.frame["index_date"]).isna(), "index_date", "not a valid YYYY-MM-DD date")
    check.reject(~check.frame["sex"].isin(["M", "F"]), "sex", "sex must be M or F")
    frame = check.frame.assign(birth_date=parse_dates(check.frame["birth_date"]),
                               index_date=parse_dates(check.frame["index_date"]))
    check.frame = frame.assign(age_years=age_in_years(frame["birth_date"], frame["index_date"]))
    check.reject(~check.frame["age_years"].between(18, 100), "birth_date", "age at index must be 18-100 years")
    patients = check.finish()
    patients["sex_male"] = np.where(patients["sex"] == "M", 1.0, 0.0)
    return patients.set_index("patient_id"), check.counts
