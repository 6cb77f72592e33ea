"""The simulator: same seed same bytes, documented event rates and oracle AUROCs, files in real formats, event
times with a known true survival and censoring recorded as an EHR would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sksurv.nonparametric import kaplan_meier_estimator

from features.sim.truth import CAD_HORIZON_DAYS, CAD_WEIBULL_SHAPE, true_risk_at
from features.simulate import EXTRACT_DATE, SimulationSummary, simulate_cohort

FILES = ["patients.csv", "labs.csv", "diagnoses.csv", "medications.csv", "lifestyle.csv", "follow_up.csv",
         "genotypes.vcf", "pgs_cad.txt", "pgs_t2d.txt", "truth.csv"]


def test_same_seed_gives_identical_files(tmp_path: Path) -> None:
    simulate_cohort(tmp_path / "a", 300, 5)
    simulate_cohort(tmp_path / "b", 300, 5)
    simulate_cohort(tmp_path / "c", 300, 6)
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "labs.csv").read_bytes() != (tmp_path / "c" / "labs.csv").read_bytes()


def test_outcomes_follow_the_documented_truth(tmp_path: Path) -> None:
    summary = simulate_cohort(tmp_path, 8000, 3)
    truth = pd.read_csv(tmp_path / "truth.csv")
    assert 0.08 <= summary.cad_10y_event_rate <= 0.16
    assert 0.05 <= summary.t2d_5y_event_rate <= 0.13
    rng = np.random.default_rng(0)
    for column, band in (("true_risk_cad_10y", (0.74, 0.84)), ("true_risk_t2d_5y", (0.74, 0.86))):
        risk = truth[column].dropna().to_numpy()  # T2D: only patients at risk (no prevalent T2D)
        assert band[0] <= roc_auc_score(rng.random(risk.size) < risk, risk) <= band[1], column
    assert 0.05 <= truth["true_risk_t2d_5y"].isna().mean() <= 0.25  # prevalent T2D share


def test_scoring_files_follow_pgs_catalog_format(tmp_path: Path) -> None:
    simulate_cohort(tmp_path, 200, 1)
    lines = (tmp_path / "pgs_cad.txt").read_text().splitlines()
    header = dict(line[1:].split("=", 1) for line in lines if line.startswith("#") and "=" in line)
    assert header["format_version"] == "2.0" and header["genome_build"] == "GRCh38"
    assert {"pgs_id", "license", "variants_number"} <= set(header)
    columns = next(line for line in lines if not line.startswith("#")).split("\t")
    assert columns == ["rsID", "chr_name", "chr_position", "effect_allele", "other_allele", "effect_weight"]
    body = [line.split("\t") for line in lines if not line.startswith("#")][1:]
    assert len(body) == int(header["variants_number"])
    assert not any({row[3], row[4]} in ({"A", "T"}, {"C", "G"}) for row in body)  # no strand-ambiguous SNPs


def test_raw_files_parse_with_the_documented_shape(cohort: tuple[Path, SimulationSummary]) -> None:
    raw = cohort[0]
    patients = pd.read_csv(raw / "patients.csv", dtype=str)
    assert patients["patient_id"].str.fullmatch(r"MRN\d{7}").all() and patients["patient_id"].is_unique
    birth, index = pd.to_datetime(patients["birth_date"]), pd.to_datetime(patients["index_date"])
    assert index.dt.year.between(2012, 2016).all()
    age = (index - birth).dt.days / 365.25
    assert age.between(35, 80).all()
    assert set(patients["ancestry"]) == {"EUR", "AFR", "EAS", "SAS", "AMR"}
    labs = pd.read_csv(raw / "labs.csv", dtype=str)
    assert {"mmol/L", "mmol/mol", "mm[Hg]", "kg/m2", "%", "mg/dL"} <= set(labs["unit"])
    vcf_head = (raw / "genotypes.vcf").read_text().split("\n#CHROM", 1)[0]
    assert "##fileformat=VCFv4.2" in vcf_head and "##reference=GRCh38" in vcf_head
    diagnoses = pd.read_csv(raw / "diagnoses.csv", dtype=str)
    onset = pd.to_datetime(diagnoses["onset_date"], errors="coerce")  # injected impossible dates -> NaT
    cad = diagnoses["icd10"].str.match(r"I2[0-5]") & onset.notna()
    index_of = diagnoses["patient_id"].map(index.set_axis(patients["patient_id"]))
    assert (onset[cad] > index_of[cad]).all()  # primary prevention: no CAD on or before the index date


def test_lab_missingness_is_realistic(cohort: tuple[Path, SimulationSummary], built: tuple[Path, object]) -> None:
    features = pd.read_parquet(built[0] / "features" / "features.parquet")
    for column in ("ldl_mg_dl", "hdl_mg_dl", "hba1c_pct", "sbp_mm_hg", "bmi_kg_m2"):
        assert 0.05 <= features[column].isna().mean() <= 0.15, column


def _km_risk(time: np.ndarray, event: np.ndarray, t: float) -> float:
    times, survival = kaplan_meier_estimator(event.astype(bool), time)
    return float(1 - survival[times <= t][-1])


def test_event_times_follow_the_true_survival(tmp_path: Path) -> None:
    """Uncensored, the true event times give, at 10 years, the mean true 10-year risk, and at 5 years the Weibull
    survival's true 5-year risk (within sampling error: 4 standard errors)."""
    simulate_cohort(tmp_path, 8000, 4)
    truth = pd.read_csv(tmp_path / "truth.csv")
    days = truth["true_cad_event_days"].fillna(np.inf).to_numpy()
    risk = truth["true_risk_cad_10y"].to_numpy()
    for t in (CAD_HORIZON_DAYS / 2, CAD_HORIZON_DAYS):
        expected = true_risk_at(risk, t, CAD_HORIZON_DAYS, CAD_WEIBULL_SHAPE)
        se = np.sqrt(np.sum(expected * (1 - expected))) / len(risk)
        assert abs(np.mean(days <= t) - expected.mean()) < 4 * se, t
    # KM with every time observed (no censoring) is the empirical share, and matches the mean true risk
    capped = np.minimum(days, 2 * CAD_HORIZON_DAYS)
    km = _km_risk(capped, days <= 2 * CAD_HORIZON_DAYS, CAD_HORIZON_DAYS)
    assert km == pytest.approx(np.mean(days <= CAD_HORIZON_DAYS))
    assert abs(km - risk.mean()) < 4 * np.sqrt(np.sum(risk * (1 - risk))) / len(risk)
    prevalent_t2d = truth["true_risk_t2d_5y"].isna()
    assert truth.loc[prevalent_t2d, "true_t2d_event_days"].isna().all()  # not at risk: never an incident event


def test_follow_up_ends_at_loss_or_the_extract_and_nothing_after_it_is_recorded(
        cohort: tuple[Path, SimulationSummary]) -> None:
    raw, summary = cohort
    patients = pd.read_csv(raw / "patients.csv", dtype=str)
    follow = pd.read_csv(raw / "follow_up.csv", dtype=str)
    assert list(follow.columns) == ["patient_id", "last_contact_date"]
    assert follow["patient_id"].tolist() == patients["patient_id"].tolist()  # one row per patient, none lost
    last = pd.to_datetime(follow["last_contact_date"]).set_axis(follow["patient_id"])
    index = pd.to_datetime(patients["index_date"]).set_axis(patients["patient_id"])
    assert (last > index[last.index]).all() and (last <= pd.Timestamp(EXTRACT_DATE)).all()
    years = (last - index[last.index]).dt.days / 365.25
    assert 0.25 <= (years < 10).mean() <= 0.5  # documented: about 39% followed for less than 10 years
    assert 0.3 <= summary.censored_before_10y <= 0.47
    for name, column in (("diagnoses.csv", "onset_date"), ("labs.csv", "effective_date")):
        rows = pd.read_csv(raw / name, dtype=str)
        date = pd.to_datetime(rows[column], errors="coerce")  # injected impossible dates -> NaT
        end = rows["patient_id"].map(last)
        known = date.notna() & end.notna()  # injected rows for an unknown patient have no follow-up
        assert (date[known] <= end[known]).all(), name
    diagnoses = pd.read_csv(raw / "diagnoses.csv", dtype=str)
    cad = diagnoses[diagnoses["icd10"].str.match(r"I2[0-5]")]
    assert cad["patient_id"].map(last).notna().all()
    truth = pd.read_csv(raw / "truth.csv", dtype={"patient_id": str}).set_index("patient_id")
    followed = (last - index[last.index]).dt.days.to_numpy()
    true_day = np.ceil(truth.loc[last.index, "true_cad_event_days"].to_numpy())
    recorded = set(cad["patient_id"])
    assert recorded == set(last.index[true_day <= followed])  # exactly the events within follow-up
