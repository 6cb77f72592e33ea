"""diagnoses.csv: patient_id, code, code_system (ICD-10-CM or SNOMED CT), onset_date; or the legacy
patient_id, icd10, onset_date. FHIR Condition resources arrive through ``check_diagnoses``.

Rows before or on the index date give the prevalent-condition features; rows after it are used only as
outcome events (within the outcome's horizon), never as features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.codes import CODE_SYSTEMS_IN, in_concept
from features.ehr.codes_columns import check_codes, with_code_columns
from features.ehr.patients import NO_PATIENT
from features.outcomes import OUTCOMES, horizon_end
from features.parsing import blank, parse_dates, read_raw_csv
from features.quarantine import Quarantine, SourceCheck, SourceCounts

FLAG_CONCEPTS = {"hypertension_dx": "hypertension", "t2d_dx": "type_2_diabetes"}
CONCEPTS = ("hypertension", "type_2_diabetes", "coronary_artery_disease")


def read_diagnoses(path: Path, patients: pd.DataFrame,
                   quarantine: Quarantine) -> tuple[pd.DataFrame, pd.DataFrame, SourceCounts]:
    try:
        frame, fields = with_code_columns(read_raw_csv(path, ["patient_id", "onset_date"]), "icd10", "ICD-10-CM")
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return check_diagnoses(SourceCheck(path.name, frame, quarantine, fields=fields), patients)


def check_diagnoses(check: SourceCheck,
                    patients: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, SourceCounts]:
    """(prevalent flags per patient, outcome events as patient_id/concept/date, counts)."""
    check.reject(blank(check.frame["patient_id"]) | ~check.frame["patient_id"].isin(patients.index),
                 "patient_id", NO_PATIENT)
    check_codes(check, CODE_SYSTEMS_IN["diagnoses"])
    check.reject(parse_dates(check.frame["onset_date"]).isna(), "onset_date", "not a valid YYYY-MM-DD date")
    check.frame = check.frame.assign(date=parse_dates(check.frame["onset_date"]), concept=_concept(check.frame))
    check.ignore(check.frame["concept"].isna(), "code not in any code set used")
    f = check.frame
    index = f["patient_id"].map(patients["index_date"])
    in_horizon = np.zeros(len(f), dtype=bool)
    for outcome in OUTCOMES.values():
        in_horizon |= ((f["concept"] == outcome.concept) & (f["date"] <= horizon_end(outcome, index))).to_numpy()
    check.ignore((f["date"] > index).to_numpy() & ~in_horizon, "after the index date (and any outcome horizon)")
    used = check.finish()
    prior = used[used["date"] <= used["patient_id"].map(patients["index_date"])]
    flags = pd.DataFrame({name: patients.index.isin(prior.loc[prior["concept"] == concept, "patient_id"])
                          for name, concept in FLAG_CONCEPTS.items()}, index=patients.index).astype(float)
    return flags, used[["patient_id", "concept", "date"]], check.counts


def _concept(frame: pd.DataFrame) -> pd.Series:
    concept = pd.Series(pd.NA, index=frame.index, dtype=object)
    for name in CONCEPTS:
        concept[in_concept(frame["code"], name, frame["code_system"]) & concept.isna()] = name
    return concept
