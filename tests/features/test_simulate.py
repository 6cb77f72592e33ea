"""The simulator: same seed same bytes, documented event rates and oracle AUROCs, files in real formats."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.simulate import SimulationSummary, simulate_cohort

FILES = ["patients.csv", "labs.csv", "diagnoses.csv", "medications.csv", "lifestyle.csv", "genotypes.vcf",
         "pgs_cad.txt", "pgs_t2d.txt", "truth.csv"]


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
