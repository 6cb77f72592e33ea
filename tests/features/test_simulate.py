from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from features.simulate import simulate_cohort

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
    risk = truth["true_risk_cad_10y"].to_numpy()
    assert 0.74 <= roc_auc_score(rng.random(risk.size) < risk, risk) <= 0.84


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
