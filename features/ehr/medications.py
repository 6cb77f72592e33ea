"""medications.csv: patient_id, code, code_system (RxNorm or ATC), start_date, end_date (empty = ongoing);
or the legacy patient_id, rxnorm (ingredient), start_date, end_date. FHIR MedicationRequest and
MedicationStatement resources arrive through ``check_medications``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from features.codes import CODE_SYSTEMS_IN, in_concept
from features.ehr.codes_columns import check_codes, with_code_columns
from features.ehr.patients import NO_PATIENT
from features.parsing import blank, parse_dates, read_raw_csv
from features.quarantine import Quarantine, SourceCheck, SourceCounts

DRUG_FEATURES = {"statin_rx": "statin", "antihypertensive_rx": "antihypertensive"}


def read_medications(path: Path, patients: pd.DataFrame,
                     quarantine: Quarantine) -> tuple[pd.DataFrame, SourceCounts]:
    try:
        frame, fields = with_code_columns(read_raw_csv(path, ["patient_id", "start_date", "end_date"]),
                                          "rxnorm", "RxNorm")
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return check_medications(SourceCheck(path.name, frame, quarantine, fields=fields), patients)


def check_medications(check: SourceCheck, patients: pd.DataFrame) -> tuple[pd.DataFrame, SourceCounts]:
    """Per patient, 1.0 where a drug of the class is active at the index date, else 0.0."""
    check.reject(blank(check.frame["patient_id"]) | ~check.frame["patient_id"].isin(patients.index),
                 "patient_id", NO_PATIENT)
    check_codes(check, CODE_SYSTEMS_IN["medications"])
    check.reject(parse_dates(check.frame["start_date"]).isna(), "start_date", "not a valid YYYY-MM-DD date")
    end_text = check.frame["end_date"]
    check.reject(~blank(end_text) & parse_dates(end_text).isna(), "end_date", "not a valid YYYY-MM-DD date")
    start, end = parse_dates(check.frame["start_date"]), parse_dates(check.frame["end_date"])
    check.reject(end < start, "end_date", "end_date is before start_date")
    check.frame = check.frame.assign(start=parse_dates(check.frame["start_date"]),
                                     end=parse_dates(check.frame["end_date"]))
    classes = {name: in_concept(check.frame["code"], concept, check.frame["code_system"])
               for name, concept in DRUG_FEATURES.items()}
    check.ignore(~pd.DataFrame(classes, index=check.frame.index).any(axis=1), "drug not in any code set used")
    index = check.frame["patient_id"].map(patients["index_date"])
    active = (check.frame["start"] <= index) & (check.frame["end"].isna() | (check.frame["end"] >= index))
    check.ignore(~active, "not active at the index date")
    used = check.finish()
    flags = {name: patients.index.isin(used.loc[in_concept(used["code"], concept, used["code_system"]), "patient_id"])
             for name, concept in DRUG_FEATURES.items()}
    return pd.DataFrame(flags, index=patients.index).astype(float), check.counts
