"""diagnoses.csv: patient_id, icd10, onset_date.

Rows before or on the index date give the prevalent-condition features; rows after it are used only as
outcome events (within the outcome's horizon), never as features.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from features.codes import in_concept
from features.outcomes import OUTCOMES, horizon_end
from features.parsing import blank, parse_dates, read_raw_csv
from features.quarantine import Quarantine, SourceCheck, SourceCounts

COLUMNS = ["patient_id", "icd10", "onset_date"]
FLAG_CONCEPTS = {"hypertension_dx": "hypertension", "t2d_dx": "type_2_diabetes"}


def read_diagnoses(path: Path, patients: pd.DataFrame,
                   quarantine: Quarantine) -> tuple[pd.DataFrame, pd.DataFrame, SourceCounts]:
    """(prevalent flags per patient, outcome events as patient_id/concept/date, counts)."""
    check = SourceCheck(path.name, read_raw_csv(path, COLUMNS), quarantine)
    check.reject(blank(check.frame["patient_id"]) | ~check.frame["patient_id"].isin(patients.index),
                 "patient_id", "patient_id not in patients.csv")
    check.reject(blank(check.frame["icd10"]), "icd10", "code is empty")
    check.reject(parse_dates(check.frame["onset_date"]).isna(), "onset_date", "not a valid YYYY-MM-DD date")
    check.frame = check.frame.assign(date=parse_dates(check.frame["onset_date"]), concept=_concept(check.frame))
    check.ignore(check.frame["concept"].isna(), "code not in any code set used")
    f = check.frame
    index = f["patient_id"].map(patients["index_date"])
    outcome_concepts = {o.concept: o for o in OUTCOMES.values()}
    in_horizon = np.zeros(len(f), dtype=bool)
    for concept, outcome in outcome_concepts.items():
        in_horizon |= ((f["concept"] == concept) & (f["date"] <= horizon_end(outcome, index))).to_numpy()
    check.ignore((f["date"] > index).to_numpy() & ~in_horizon, "after the index date (and any outcome horizon)")
    used = check.finish()
    prior = used[used["date"] <= used["patient_id"].map(patients["index_date"])]
    flags = pd.DataFrame({name: patients.index.isin(prior.loc[prior["concept"] == concept, "patient_id"])
                          for name, concept in FLAG_CONCEPTS.items()}, index=patients.index).astype(float)
    return flags, used[["patient_id", "concept", "date"]], check.counts


def _concept(frame: pd.DataFrame) -> pd.Series:
    concept = pd.Series(pd.NA, index=frame.index, dtype=object)
    for name in ("hypertension", "type_2_diabetes", "coronary_artery_disease"):
        concept[in_concept(frame["icd10"], name) & concept.isna()] = name
    return concept
