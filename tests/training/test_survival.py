"""task: survival, trained as a user would: a public cohort written to a CSV (categoricals one-hot encoded by
hand), a spec written by hand, ``pmed train SPEC --table FILE``, registered in MLflow.

The data sets ship inside scikit-survival (no download): ``veteran`` (137 patients, few censored) and GBSG2
(686, 56% censored, many before the 5-year horizon), where dropping the censored (the naive binary model)
visibly over-predicts and the survival model must not.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from sksurv.datasets import load_gbsg2, load_veterans_lung_cancer
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv
from typer.testing import CliRunner

from kernel.artifacts import load_kinds
from kernel.artifacts.survival import BreslowHorizonCalibrator
from kernel.calibration import calibrator_from_dict
from kernel.model_registry import registry_client
from kernel.settings import Settings
from pmed.cli import app
from tests.conftest import REPO, write_feature_table
from training.data import DataError
from training.pipeline import train_from_spec
from training.spec import SpecError, load_spec
from training.survival.fit import breslow_at, horizon_calibrator
from training.survival.parts import SurvivalPart

XGB = {"max_depth": 2, "learning_rate": 0.05, "n_estimators": 500, "early_stopping_rounds": 30, "min_child_weight": 2}


def _binary(name: str, display: str) -> dict[str, Any]:
    return {"name": name, "display_name": display, "unit": "yes/no", "kind": "binary", "min": 0, "max": 1}


def _continuous(name: str, display: str, unit: str, high: float) -> dict[str, Any]:
    return {"name": name, "display_name": display, "unit": unit, "kind": "continuous", "min": 0, "max": high}


VETERAN_SPEC: dict[str, Any] = {
    "name": "veteran_survival", "task": "survival", "target": "death", "id_column": "patient",
    "description": "Death within 180 days in the Veterans' Administration lung cancer trial.",
    "intended_use": "Test of task survival; not a clinical model.",
    "survival": {"time_column": "Survival_in_days", "event_column": "Status", "horizon_days": 180},
    "survival_gates": {"min_c_index": 0.55, "min_test_events": 10},
    "features": ["Age_in_years", "Karnofsky_score", "Months_from_Diagnosis", "Celltype_adeno", "Celltype_large",
                 "Celltype_smallcell", "Celltype_squamous", "Prior_therapy_yes", "Treatment_test"],
    "declared_features": [
        _continuous("Age_in_years", "Age", "years", 100),
        _continuous("Karnofsky_score", "Karnofsky score", "points", 100),
        _continuous("Months_from_Diagnosis", "Months from diagnosis", "months", 120),
        _binary("Celltype_adeno", "Adenocarcinoma"), _binary("Celltype_large", "Large-cell carcinoma"),
        _binary("Celltype_smallcell", "Small-cell carcinoma"), _binary("Celltype_squamous", "Squamous-cell carcinoma"),
        _binary("Prior_therapy_yes", "Prior therapy"), _binary("Treatment_test", "Test chemotherapy")],
    "xgboost": XGB, "subgroups": [],
}


def veteran_table(path: Path) -> Path:
    """scikit-survival's veteran data in a CSV with its own column names, categoricals one-hot encoded."""
    X, y = load_veterans_lung_cancer()
    frame = pd.get_dummies(X, columns=["Celltype", "Prior_therapy", "Treatment"], dtype=int)
    frame.insert(0, "patient", [f"V{i:03d}" for i in range(len(frame))])
    frame["Status"], frame["Survival_in_days"] = y["Status"].astype(int), y["Survival_in_days"]
    frame.to_csv(path, index=False)
    return path


def gbsg2_table(path: Path) -> Path:
    X, y = load_gbsg2()
    frame = pd.get_dummies(X, columns=["horTh", "menostat", "tgrade"], dtype=int, drop_first=True)
    frame.insert(0, "patient", [f"G{i:03d}" for i in range(len(frame))])
    frame["cens"], frame["time"] = y["cens"].astype(int), y["time"]
    frame.to_csv(path, index=False)
    return path


GBSG2_SPEC: dict[str, Any] = {
    **VETERAN_SPEC, "name": "gbsg2_recurrence", "target": "recurrence_or_death",
    "description": "Recurrence-free survival at 5 years after breast cancer surgery (GBSG2).",
    "survival": {"time_column": "time", "event_column": "cens", "horizon_days": 1825},
    "survival_gates": {"min_c_index": 0.6, "min_test_events": 20},
    "features": ["age", "estrec", "pnodes", "progrec", "tsize", "horTh_yes", "menostat_Post", "tgrade_II",
                 "tgrade_III"],
    "declared_features": [
        _continuous("age", "Age", "years", 100), _continuous("estrec", "Oestrogen receptor", "fmol/l", 5000),
        _continuous("pnodes", "Positive lymph nodes", "count", 100),
        _continuous("progrec", "Progesterone receptor", "fmol/l", 5000), _continuous("tsize", "Tumour size", "mm", 200),
        _binary("horTh_yes", "Hormonal therapy"), _binary("menostat_Post", "Postmenopausal"),
        _binary("tgrade_II", "Tumour grade II"), _binary("tgrade_III", "Tumour grade III")],
    "xgboost": {**XGB, "min_child_weight": 5},
}


def write_spec(folder: Path, spec: dict[str, Any]) -> Path:
    path = folder / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_pmed_train_fits_registers_and_is_calibrated_at_the_horizon(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMED_HOME", str(tmp_path / ".pmed"))
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    spec, table = write_spec(tmp_path, VETERAN_SPEC), veteran_table(tmp_path / "veteran.csv")
    result = CliRunner().invoke(app, ["train", str(spec), "--table", str(table)])
    assert result.exit_code == 0, result.output
    assert "alias champion -> veteran_survival version 1" in result.output
    settings = Settings(home=tmp_path / ".pmed", _env_file=None)
    client = MlflowClient(tracking_uri=settings.tracking_uri)
    version = client.get_model_version_by_alias("veteran_survival", "champion")
    metrics = client.get_run(str(version.run_id)).data.metrics
    assert 0.8 <= metrics["observed_expected_at_horizon"] <= 1.25
    assert metrics["observed_expected_at_horizon_ci_low"] < metrics["observed_expected_at_horizon"] \
        < metrics["observed_expected_at_horizon_ci_high"]
    assert metrics["c_index_ci_low"] < metrics["c_index"] < metrics["c_index_ci_high"] and metrics["c_index"] > 0.6
    for name in ("uno_c_index", "uno_c_index_ci_low", "auroc_at_horizon", "brier_at_horizon", "integrated_brier",
                 "cox_ph.c_index", "cox_ph.brier_at_horizon", "kaplan_meier.brier_at_horizon",
                 "kaplan_meier.integrated_brier", "naive_binary.observed_expected_at_horizon"):
        assert np.isfinite(metrics[name]), name
    assert metrics["integrated_brier"] < metrics["kaplan_meier.integrated_brier"]  # covariates help


def test_censored_patients_are_kept_and_the_naive_binary_model_is_further_off(settings: Settings,
                                                                               tmp_path: Path) -> None:
    """GBSG2: many patients censored before 5 years. The survival model's O/E lies in [0.8, 1.25]; the model
    that drops them predicts more risk than Kaplan-Meier observes, and is further from 1 than the model."""
    outcome = train_from_spec(write_spec(tmp_path, GBSG2_SPEC), None, settings, table=gbsg2_table(tmp_path / "g.csv"))
    m = outcome.metrics
    assert outcome.promoted and 0.8 <= m["observed_expected_at_horizon"] <= 1.25
    assert m["test_censored_before_horizon"] > 50  # they are scored, not dropped
    assert m["naive_binary.mean_predicted_risk_at_horizon"] > m["observed_risk_at_horizon"] * 1.2
    assert abs(np.log(m["naive_binary.observed_expected_at_horizon"])) > abs(np.log(m["observed_expected_at_horizon"]))


def test_a_horizon_beyond_the_follow_up_is_refused(settings: Settings, tmp_path: Path) -> None:
    spec = {**VETERAN_SPEC, "survival": {**VETERAN_SPEC["survival"], "horizon_days": 5000}}
    with pytest.raises(DataError, match=r"beyond the follow-up of the train patients.*no patient is at risk"):
        train_from_spec(write_spec(tmp_path, spec), None, settings, table=veteran_table(tmp_path / "v.csv"))


def test_follow_up_must_be_positive_and_every_event_flag_present(settings: Settings, tmp_path: Path) -> None:
    table = veteran_table(tmp_path / "v.csv")
    frame = pd.read_csv(table)
    frame.loc[3, "Survival_in_days"] = 0
    frame.to_csv(tmp_path / "zero.csv", index=False)
    with pytest.raises(DataError, match="Survival_in_days: follow-up must be a number of days > 0; 1 row"):
        train_from_spec(write_spec(tmp_path, VETERAN_SPEC), None, settings, table=tmp_path / "zero.csv")
    frame = pd.read_csv(table).astype({"Status": "float"})
    frame.loc[5, "Status"] = np.nan
    frame.to_csv(tmp_path / "empty.csv", index=False)
    with pytest.raises(DataError, match="every patient needs an event flag"):
        train_from_spec(write_spec(tmp_path, VETERAN_SPEC), None, settings, table=tmp_path / "empty.csv")


@pytest.mark.parametrize(("change", "message"), [
    ({"gates": {"min_auroc": 0.7}}, "takes survival_gates"),
    ({"horizon_years": 1.0}, "survival.horizon_days; leave horizon_years out"),
    ({"survival": None}, "needs survival: {time_column, event_column, horizon_days}"),
    ({"survival": {"time_column": "t", "event_column": "e", "horizon_days": -1}}, "survival: horizon_days"),
    ({"survival_gates": {"min_c_index": 0.6, "min_auroc": 0.7}}, "survival_gates: min_auroc"),
    ({"baselines": ["logistic_regression"]}, "not known to survival"),
])
def test_the_spec_part_is_checked(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    spec = {k: v for k, v in {**VETERAN_SPEC, **change}.items() if v is not None}
    with pytest.raises(SpecError, match=message.replace("{", r"\{").replace("}", r"\}")):
        load_spec(write_spec(tmp_path, spec))


def test_the_calibrator_is_stored_as_data_and_breslow_matches_scikit_survival() -> None:
    load_kinds()
    calibrator = calibrator_from_dict(BreslowHorizonCalibrator(180.0, 0.3, 0.8).to_dict())
    margin = np.array([-1.0, 0.0, 2.0])
    assert np.allclose(calibrator.predict(margin), 1 - np.exp(-0.3 * np.exp(0.8 * margin)))
    with pytest.raises(ValueError, match="malformed"):
        calibrator_from_dict({"method": "breslow_horizon", "horizon_days": 180, "cumulative_hazard": 0.3,
                              "slope": -1})
    rng = np.random.default_rng(0)
    x, time = rng.normal(size=300), rng.exponential(100, 300).round()  # ties included
    y = Surv.from_arrays(rng.random(300) < 0.7, time + 1)
    cox = CoxPHSurvivalAnalysis().fit(x.reshape(-1, 1), y)
    expected = float(cox.cum_baseline_hazard_(60.0))
    assert breslow_at(cox.coef_[0] * x, y, 60.0) == pytest.approx(expected, rel=1e-9)


def test_the_horizon_calibrator_is_fitted_on_validation_with_censoring() -> None:
    """``slope``: the margin's Cox slope and its Breslow baseline; ``baseline``: slope 1; a margin that ranks the
    patients backwards is refused rather than served."""
    rng = np.random.default_rng(1)
    margin = rng.normal(size=400)
    time = rng.exponential(200 / np.exp(0.5 * margin)) + 1  # the true slope on this margin is 0.5
    censor = rng.uniform(50, 600, 400)
    y = Surv.from_arrays(time <= censor, np.minimum(time, censor))
    part = SurvivalPart(time_column="t", event_column="e", horizon_days=180)
    fitted = horizon_calibrator(margin, y, part)
    assert 0.3 < fitted.slope < 0.7
    assert fitted.cumulative_hazard == pytest.approx(breslow_at(fitted.slope * margin, y, 180))
    plain = horizon_calibrator(margin, y, part.model_copy(update={"recalibration": "baseline"}))
    assert plain.slope == 1.0 and plain.cumulative_hazard == pytest.approx(breslow_at(margin, y, 180))
    with pytest.raises(DataError, match="Cox slope"):
        horizon_calibrator(-margin, y, part)


def test_the_demo_cad_spec_trains_from_a_feature_folder_and_reports_the_oracle(settings: Settings,
                                                                                tmp_path: Path) -> None:
    """models/cad_risk.yaml (task: survival) on pmed's feature-folder layout: every patient at risk is kept (about
    70% censored before 10 years here), and on simulated data the true risk is scored beside the model."""
    folder = write_feature_table(tmp_path / "features", n=3000, seed=21)
    raw = yaml.safe_load((REPO / "models" / "cad_risk.yaml").read_text())
    raw["survival_gates"].update(min_c_index=0.6, observed_expected_at_horizon=[0.5, 2.0])  # 600 test patients
    raw["bootstrap_samples"] = 20
    outcome = train_from_spec(write_spec(tmp_path, raw), folder, settings)
    m = outcome.metrics
    assert outcome.promoted, outcome.gates
    assert 550 <= m["n_test"] <= 650 and m["test_censored_before_horizon"] > 300  # kept, not dropped
    assert 0.7 < m["oracle_c_index"] < 0.9 and m["c_index"] > m["oracle_c_index"] - 0.05
    assert m["c_index_gap_to_oracle"] == pytest.approx(m["oracle_c_index"] - m["c_index"])
    assert 0.8 < m["oracle_observed_expected_at_horizon"] < 1.25  # the truth is calibrated, up to sampling
    assert abs(np.log(m["naive_binary.observed_expected_at_horizon"])) > abs(np.log(m["observed_expected_at_horizon"]))
    run = registry_client(settings).get_run(outcome.run_id)
    assert run.data.tags["pmed.data_source"] == "features.parquet, outcomes.parquet"
    assert {"oracle_c_index", "oracle_observed_expected_at_horizon"} <= set(run.data.metrics)


def test_the_oracle_is_left_out_when_the_truth_is_at_another_horizon(settings: Settings, tmp_path: Path) -> None:
    folder = write_feature_table(tmp_path / "features", n=1500, seed=22)
    raw = yaml.safe_load((REPO / "models" / "cad_risk.yaml").read_text())
    raw["survival"]["horizon_days"] = 1826  # the true risk is a 10-year one: its O/E at 5 years means nothing
    raw["survival_gates"] = {"min_c_index": 0.5, "min_test_events": 1}
    raw.update(bootstrap_samples=10, baselines=["cox_ph"])
    metrics = train_from_spec(write_spec(tmp_path, raw), folder, settings).metrics
    assert "c_index" in metrics and not any(k.startswith("oracle_") for k in metrics)


def test_a_feature_folder_without_time_to_event_columns_is_refused(settings: Settings, tmp_path: Path) -> None:
    folder = write_feature_table(tmp_path / "features", n=300, seed=23)
    outcomes = pd.read_parquet(folder / "outcomes.parquet").drop(columns=["cad_time_days"])
    outcomes.to_parquet(folder / "outcomes.parquet", index=False)
    with pytest.raises(DataError, match=r"cad_time_days named by survival: are missing \(rebuild the features"):
        train_from_spec(REPO / "models" / "cad_risk.yaml", folder, settings)
