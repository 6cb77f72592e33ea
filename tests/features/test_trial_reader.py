"""Reading a randomised trial in pmed's trial format: every broken row quarantined with its line, field and
rule; file-level faults named; the accounting balances under arbitrary corruption (hypothesis)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.sim.trial import simulate_trial
from features.trial import COVARIATES, load_trial, read_trial


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("clean")
    simulate_trial(folder, 400, seed=3)
    (folder / "truth.csv").unlink()  # a real trial has no truth
    return folder


def _corrupt(clean: Path, target: Path, edits: dict[tuple[int, str], str]) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(clean / "genotypes.vcf", target / "genotypes.vcf")
    table = pd.read_csv(clean / "trial.csv", dtype=str, keep_default_na=False)
    for (row, column), value in edits.items():
        table.loc[row, column] = value
    table.to_csv(target / "trial.csv", index=False)
    return target


def test_each_rule_quarantines_its_row_with_line_field_and_rule(clean: Path, tmp_path: Path) -> None:
    first_id = pd.read_csv(clean / "trial.csv")["patient_id"][0]
    folder = _corrupt(clean, tmp_path / "bad", {(3, "arm"): "aspirin", (10, "age_years"): "sixty",
                                                 (11, "egfr_ml_min"): "400", (12, "nace_1y"): "2",
                                                 (13, "patient_id"): first_id, (14, "female"): "0.5",
                                                 (15, "pru"): "-3", (16, "patient_id"): " "})
    data = load_trial(folder)
    got = {(r.row, r.field): r.rule for r in data.quarantine.itertuples()}
    assert got == {(5, "arm"): "arm must be one of clopidogrel, ticagrelor",
                   (12, "age_years"): "age_years is missing or not a number",
                   (13, "egfr_ml_min"): "egfr_ml_min outside 5-150", (14, "nace_1y"): "nace_1y must be 0 or 1",
                   (15, "patient_id"): "duplicate patient_id (the first row is kept)",
                   (16, "female"): "female must be 0 or 1",
                   (17, "pru"): "pru must be blank or a number in 0-400 (PRU units)",
                   (18, "patient_id"): "missing patient_id"}
    assert data.counts.rows_in == 400 and data.counts.rows_used == 392 and len(data.frame) == 392
    assert set(data.quarantine["source_file"]) == {str(folder / "trial.csv")}
    assert "sixty" not in data.quarantine.to_csv()  # the record's values are not copied
    with pytest.raises(ValueError, match=r"8 trial row\(s\) break a rule .*line 5, arm"):
        read_trial(folder)  # without a quarantine file nothing may vanish unseen
    kept = read_trial(folder, tmp_path / "q" / "trial-bad.csv")
    assert len(kept) == 392 and len(pd.read_csv(tmp_path / "q" / "trial-bad.csv")) == 8


def test_file_level_faults_are_named(clean: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no trial\.csv"):
        load_trial(tmp_path)
    folder = _corrupt(clean, tmp_path / "nocol", {})
    pd.read_csv(folder / "trial.csv").drop(columns=["egfr_ml_min"]).to_csv(folder / "trial.csv", index=False)
    with pytest.raises(ValueError, match=r"trial.csv: missing column\(s\) egfr_ml_min"):
        load_trial(folder)
    folder = _corrupt(clean, tmp_path / "novcf", {})
    (folder / "genotypes.vcf").unlink()
    with pytest.raises(FileNotFoundError, match=r"no genotypes\.vcf"):
        load_trial(folder)
    one_arm = _corrupt(clean, tmp_path / "onearm", {(i, "arm"): "clopidogrel" for i in range(400)})
    with pytest.raises(ValueError, match="arm ticagrelor has fewer than 50 valid patients"):
        load_trial(one_arm)


def test_a_clean_trial_reads_whole_with_phenotypes(clean: Path) -> None:
    data = load_trial(clean)
    assert len(data.quarantine) == 0 and len(data.frame) == 400
    assert data.frame["cyp2c19_phenotype_code"].notna().mean() > 0.95
    assert data.frame["treated"].isin((0, 1)).all() and data.frame["age_years"].dtype == "float64"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 399), st.sampled_from(["arm", "nace_1y", "pru", *COVARIATES]),
                          st.sampled_from(["", "x", "-1", "1e9", "0", "1", "2", "0.5", "NaN", " 7 "])),
                max_size=30))
def test_rows_in_equal_rows_used_plus_quarantined(clean: Path, tmp_path_factory: pytest.TempPathFactory,
                                                  edits: list[tuple[int, str, str]]) -> None:
    folder = _corrupt(clean, tmp_path_factory.mktemp("h"), {(r, c): v for r, c, v in edits})
    data = load_trial(folder)
    assert data.counts.rows_used + data.counts.rows_quarantined == data.counts.rows_in == 400
    assert len(data.frame) == data.counts.rows_used and len(data.quarantine) == data.counts.rows_quarantined
    for name, (low, high) in COVARIATES.items():
        assert data.frame[name].between(low, high).all()
    assert data.frame["nace_1y"].isin((0, 1)).all()
