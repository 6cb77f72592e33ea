"""The EHR side of a build, from CSV extracts or from FHIR R4: one set of rules, two ways in.

Both return the same ``EhrFeatures``; the FHIR way flattens resources into the CSV contract's columns and
then calls the very ``check_*`` functions the CSV readers use.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from features.ehr.conditions import check_diagnoses, read_diagnoses
from features.ehr.fhir import read_fhir
from features.ehr.labs import COLUMNS as LAB_COLUMNS
from features.ehr.labs import check_labs, summarise_labs
from features.ehr.medications import check_medications, read_medications
from features.ehr.patients import check_patients, read_patients
from features.ehr.text import read_text_csv
from features.quarantine import Quarantine, SourceCheck, SourceCounts

LAB_FILES = ("labs.csv", "vitals.csv")  # vitals.csv is optional and has the labs.csv columns


@dataclass
class EhrFeatures:
    patients: pd.DataFrame  # index patient_id: birth_date, sex, index_date, ancestry, site, age_years, sex_male
    labs: pd.DataFrame  # last / mean / count / slope per lab feature (features/ehr/labs.py)
    conditions: pd.DataFrame  # prevalent-condition flags
    events: pd.DataFrame  # diagnoses as patient_id / concept / date, for the outcome labels
    medications: pd.DataFrame  # drug-class flags at the index date
    sources: list[SourceCounts]


def read_ehr_csv(raw_dir: Path, quarantine: Quarantine) -> EhrFeatures:
    patients, patient_counts = read_patients(raw_dir / "patients.csv", quarantine)
    used, lab_counts = [], []
    for name in LAB_FILES:
        if name == "labs.csv" or (raw_dir / name).is_file():
            rows, counts = check_labs(SourceCheck(name, read_text_csv(raw_dir / name, LAB_COLUMNS), quarantine),
                                      patients["index_date"])
            used.append(rows)
            lab_counts.append(counts)
    flags, events, dx_counts = read_diagnoses(raw_dir / "diagnoses.csv", patients, quarantine)
    drugs, drug_counts = read_medications(raw_dir / "medications.csv", patients, quarantine)
    labs = summarise_labs(pd.concat(used, ignore_index=True), patients["index_date"])
    return EhrFeatures(patients, labs, flags, events, drugs, [patient_counts, *lab_counts, dx_counts, drug_counts])


def read_ehr_fhir(path: Path, quarantine: Quarantine) -> EhrFeatures:
    fhir = read_fhir(path, quarantine)

    def check(name: str, source: str) -> SourceCheck:
        return SourceCheck(source, fhir.tables[name], quarantine, fields=fhir.fields[name])

    patients, patient_counts = check_patients(check("patients", "Patient (FHIR)"))
    used, lab_counts = check_labs(check("labs", "Observation (FHIR)"), patients["index_date"])
    flags, events, dx_counts = check_diagnoses(check("diagnoses", "Condition (FHIR)"), patients)
    requested, request_counts = check_medications(check("medication_requests", "MedicationRequest (FHIR)"), patients)
    stated, statement_counts = check_medications(check("medication_statements", "MedicationStatement (FHIR)"),
                                                 patients)
    labs = summarise_labs(used, patients["index_date"])
    return EhrFeatures(patients, labs, flags, events, np.maximum(requested, stated),
                       [fhir.counts, patient_counts, lab_counts, dx_counts, request_counts, statement_counts])
