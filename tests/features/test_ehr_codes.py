"""Terminology as data: UCUM conversions with known values, code sets in two systems each, lifestyle rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.codes import code_sets, code_systems, in_concept, lab_units, to_canonical, ucum_code
from features.ehr.conditions import read_diagnoses
from features.ehr.medications import read_medications
from features.ehr.patients import read_patients
from features.lifestyle import read_lifestyle
from features.quarantine import Quarantine


@pytest.mark.parametrize(("loinc", "unit", "value", "expected"), [
    ("18262-6", "mmol/L", 3.0, 116.0),  # LDL 3.0 mmol/L is about 116 mg/dL
    ("2093-3", "mmol/l", 5.2, 201.1),  # total cholesterol, lower-case spelling
    ("2571-8", "mmol/L", 1.7, 150.5),  # triglycerides: the 150 mg/dL threshold is 1.7 mmol/L
    ("2345-7", "mmol/L", 7.0, 126.1),  # fasting glucose diabetes threshold: 7.0 mmol/L = 126 mg/dL
    ("4548-4", "mmol/mol", 48, 6.54),  # HbA1c 48 mmol/mol = 6.5 % (IFCC-NGSP)
    ("4548-4", "mmol/mol", 53, 7.0),
    ("4548-4", "percent", 6.5, 6.5),
    ("8480-6", "mm Hg", 120, 120),
    ("39156-5", "kg/m^2", 27.5, 27.5),
])
def test_conversions_give_known_values(loinc: str, unit: str, value: float, expected: float) -> None:
    result = to_canonical(pd.Series([loinc]), pd.Series([unit]), pd.Series([value]))[0]
    assert result == pytest.approx(expected, abs=0.06)


def test_unknown_or_wrong_analyte_units_are_not_converted() -> None:
    result = to_canonical(pd.Series(["8480-6", "4548-4", "18262-6", "18262-6"]),
                          pd.Series(["kPa", "mg/dL", "mg", "MMOL/l"]), pd.Series([12.0, 5.0, 100.0, 3.0]))
    assert result.isna().all()  # MMOL/l is neither UCUM nor a listed spelling: not guessed


def test_unit_data_is_consistent_and_sourced() -> None:
    units = lab_units()
    assert units["source"].str.len().gt(3).all()
    molar = units.dropna(subset=["molar_mass_g_mol"])
    assert np.allclose(molar["factor"], molar["molar_mass_g_mol"] / 10, rtol=1e-4)  # mmol/L -> mg/dL
    assert set(ucum_code(pd.Series(["mg/dl", " mmHg ", "%"]))) == {"mg/dL", "mm[Hg]", "%"}


def test_each_concept_is_declared_in_both_systems_with_sources() -> None:
    sets = code_sets()
    assert sets["source"].str.len().gt(3).all()
    systems = sets.groupby("concept")["system"].agg(set).to_dict()
    for concept in ("hypertension", "type_2_diabetes", "coronary_artery_disease"):
        assert systems[concept] == {"ICD-10-CM", "SNOMED CT"}
    for concept in ("statin", "antihypertensive"):
        assert systems[concept] == {"RxNorm", "ATC"}
    assert set(sets["system"]) <= set(code_systems().values())
    codes, where = pd.Series(["E11.9", "44054006", "44054006", "E11"]), pd.Series(
        ["ICD-10-CM", "SNOMED CT", "ICD-10-CM", "SNOMED CT"])
    assert in_concept(codes, "type_2_diabetes", where).tolist() == [True, True, False, False]


PATIENTS = "patient_id,birth_date,sex,index_date,ancestry,site\nA,1960-05-01,M,2015-06-30,EUR,s1\n"


def _patients(tmp_path: Path, quarantine: Quarantine) -> pd.DataFrame:
    (tmp_path / "patients.csv").write_text(PATIENTS)
    return read_patients(tmp_path / "patients.csv", quarantine)[0]


def test_diagnoses_and_drugs_in_either_system(tmp_path: Path) -> None:
    quarantine = Quarantine()
    patients = _patients(tmp_path, quarantine)
    (tmp_path / "dx.csv").write_text("patient_id,code,code_system,onset_date\nA,44054006,SNOMED CT,2010-01-01\n"
                                     "A,I10,ICD-10,2010-01-01\nA,38341003,SNOMED CT,2016-01-01\n")
    (tmp_path / "rx.csv").write_text("patient_id,code,code_system,start_date,end_date\n"
                                     "A,C10AA07,ATC,2014-01-01,\nA,29046,RxNorm,2010-01-01,2012-01-01\n")
    flags, _, dx_counts = read_diagnoses(tmp_path / "dx.csv", patients, quarantine)
    drugs, rx_counts = read_medications(tmp_path / "rx.csv", patients, quarantine)
    assert flags.loc["A"].to_dict() == {"hypertension_dx": 0.0, "t2d_dx": 1.0}  # the SNOMED HTN is after index
    assert drugs.loc["A"].to_dict() == {"statin_rx": 1.0, "antihypertensive_rx": 0.0}
    assert quarantine.frame()[["row", "field", "rule"]].to_dict("records") == [
        {"row": 3, "field": "code_system", "rule": "code_system must be ICD-10-CM or SNOMED CT"}]
    assert dx_counts.rows_in == 3 and rx_counts.ignored == {"not active at the index date": 1}


def test_lifestyle_ranges_never_smoker_and_latest_questionnaire(tmp_path: Path) -> None:
    quarantine = Quarantine()
    patients = _patients(tmp_path, quarantine)
    header = ("patient_id,completed_date,smoking_status,pack_years,physical_activity_min_wk,alcohol_units_wk,"
              "diet_quality_score,sleep_hours\n")
    (tmp_path / "life.csv").write_text(header + "A,2014-01-01,current,20,100,5,6,7\n"
                                                "A,2015-01-01,Former,21,150,4,7,7.5\n"
                                                "A,2015-03-01,never,5,150,4,7,7.5\n"
                                                "A,2015-04-01,former,21,150,4,11,7.5\n"
                                                "A,2016-01-01,current,30,0,0,0,5\n")
    features, counts = read_lifestyle(tmp_path / "life.csv", patients, quarantine)
    assert features.loc["A", "pack_years"] == 21 and features.loc["A", "current_smoker"] == 0
    assert features.loc["A", "physical_activity_min_wk"] == 150
    assert quarantine.frame()[["row", "field"]].to_dict("records") == [
        {"row": 4, "field": "pack_years"}, {"row": 5, "field": "diet_quality_score"}]
    assert counts.ignored == {"completed after the index date": 1, "superseded by a later questionnaire": 1}
