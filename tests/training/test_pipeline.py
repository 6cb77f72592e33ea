"""Training against a real MLflow tracking store (SQLite + local artifacts) in a temporary PMED_HOME."""

from pathlib import Path

import mlflow
import pytest
import yaml

from kernel.model_registry import registry_client, version_for_alias
from kernel.settings import Settings
from tests.conftest import write_feature_table
from training.pipeline import train_from_spec
from training.promote import PromotionError, promote_version
from training.tracking import configure_mlflow

REPO = Path(__file__).resolve().parents[2]


def _spec(tmp_path: Path, **gates: object) -> Path:
    raw = yaml.safe_load((REPO / "tests" / "specs" / "cad_risk_binary.yaml").read_text())
    raw["gates"].update(gates)
    path = tmp_path / "cad_risk.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_successful_run_is_logged_registered_and_promoted(settings: Settings, feature_dir: Path,
                                                          tmp_path: Path) -> None:
    outcome = train_from_spec(_spec(tmp_path), feature_dir, settings)
    assert outcome.promoted
    client = registry_client(settings)
    assert str(version_for_alias(client, "cad_risk", "champion").version) == outcome.version
    run = client.get_run(outcome.run_id)
    for metric in ("auroc", "auroc_ci_low", "brier", "calibration_slope", "oracle_auroc", "auroc_gap_to_oracle"):
        assert metric in run.data.metrics
    assert run.data.metrics["auroc_ci_low"] <= run.data.metrics["auroc"] <= run.data.metrics["auroc_ci_high"]
    assert len(run.data.tags["pmed.data_fingerprint"]) == 64
    assert run.data.tags["pmed.seed"] == "42"
    artifacts = [a.path for a in client.list_artifacts(outcome.run_id, "spec")]
    assert artifacts == ["spec/cad_risk.yaml"]
    mv = client.get_model_version("cad_risk", outcome.version)
    assert mv.tags["pmed.gates"] == "passed"


def test_gate_failure_registers_but_never_promotes(settings: Settings, feature_dir: Path, tmp_path: Path) -> None:
    first = train_from_spec(_spec(tmp_path), feature_dir, settings)
    noise = write_feature_table(tmp_path / "noise", n=3000, seed=8, signal=0.0)
    failed = train_from_spec(_spec(tmp_path, min_auroc=0.7), noise, settings)
    assert not failed.promoted
    failed_gates = {g.name: g for g in failed.gates if not g.passed}
    assert "min_auroc" in failed_gates and failed_gates["min_auroc"].value < 0.7  # noise cannot reach 0.7
    client = registry_client(settings)
    assert str(version_for_alias(client, "cad_risk", "champion").version) == first.version
    assert client.get_model_version("cad_risk", failed.version).tags["pmed.gates"] == "failed"
    with pytest.raises(PromotionError, match="gates failed"):
        promote_version(client, "cad_risk", failed.version, "champion", force=False)
    assert str(version_for_alias(client, "cad_risk", "champion").version) == first.version


def test_forced_promotion_is_recorded(settings: Settings, tmp_path: Path) -> None:
    noise = write_feature_table(tmp_path / "noise", n=3000, seed=9, signal=0.0)
    failed = train_from_spec(_spec(tmp_path, min_auroc=0.99), noise, settings)
    client = configure_mlflow(settings)
    assert version_for_alias(client, "cad_risk", "champion") is None
    promote_version(client, "cad_risk", failed.version, "champion", force=True)
    mv = client.get_model_version("cad_risk", failed.version)
    assert "champion by" in mv.tags["pmed.forced_promotion"]
    assert str(version_for_alias(client, "cad_risk", "champion").version) == failed.version


def test_crash_before_registration_leaves_registry_untouched(settings: Settings, feature_dir: Path,
                                                             tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(mlflow.pyfunc, "log_model", explode)
    with pytest.raises(OSError, match="disk full"):
        train_from_spec(_spec(tmp_path), feature_dir, settings)
    client = registry_client(settings)
    assert client.search_model_versions("name='cad_risk'") == []


def test_same_inputs_and_seed_give_identical_booster(settings: Settings, feature_dir: Path, tmp_path: Path) -> None:
    from training.data import load_training_data
    from training.fit import fit_model
    from training.spec import load_spec
    from training.split import split_patients

    spec = load_spec(_spec(tmp_path))
    data = load_training_data(feature_dir, spec)
    split = split_patients(data.keys, spec.split, spec.seed)
    first, second = fit_model(spec, data, split), fit_model(spec, data, split)
    assert first.booster.save_raw("ubj") == second.booster.save_raw("ubj")


def test_missing_feature_column_names_file_and_column(settings: Settings, feature_dir: Path, tmp_path: Path) -> None:
    import pandas as pd

    from training.data import DataError

    table = pd.read_parquet(feature_dir / "features.parquet").drop(columns=["sbp_mm_hg"])
    table.to_parquet(feature_dir / "features.parquet")
    with pytest.raises(DataError, match=r"features.parquet.*sbp_mm_hg"):
        train_from_spec(_spec(tmp_path), feature_dir, settings)


def test_run_carries_the_evidence_a_reviewer_asks_for(settings: Settings, feature_dir: Path, tmp_path: Path) -> None:
    outcome = train_from_spec(_spec(tmp_path), feature_dir, settings)
    client = registry_client(settings)
    metrics = client.get_run(outcome.run_id).data.metrics
    for name in ("auprc", "auprc_ci_low", "scaled_brier", "calibration_intercept", "logistic_regression.auroc",
                 "pooled_cohort_equations.auroc", "oracle.auroc", "worst_subgroup_auroc", "subgroup.sex.F.auroc",
                 "subgroup_gap.sex"):
        assert name in metrics, name
    logged = {a.path for folder in ("model_card", "evaluation/figures", "reports")
              for a in client.list_artifacts(outcome.run_id, folder)}
    assert {"model_card/model_card.md", "model_card/model_card.html", "evaluation/figures/calibration.png",
            "evaluation/figures/decision_curve.png", "reports/evaluation.json"} <= logged
    card = Path(mlflow.artifacts.download_artifacts(run_id=outcome.run_id, artifact_path="model_card/model_card.md",
                                                    tracking_uri=settings.mlflow_tracking_uri)).read_text()
    for heading in ("Intended use", "Outcome and horizon", "Predictors", "Subgroups", "Largest gap", "Limitations"):
        assert heading in card, heading
    assert f"{metrics['auroc']:.3f}" in card


def test_a_version_worse_than_the_champion_is_not_promoted(settings: Settings, feature_dir: Path,
                                                           tmp_path: Path) -> None:
    champion = train_from_spec(_spec(tmp_path), feature_dir, settings)
    raw = yaml.safe_load((REPO / "tests" / "specs" / "cad_risk_binary.yaml").read_text())
    raw.update(features=["sex_male", "sleep_hours"], monotone_constraints={}, baselines=[])
    raw["gates"].update(min_auroc=0.5, calibration_slope=[0.0, 10.0], min_subgroup_auroc=0.0)
    weak_spec = tmp_path / "weak.yaml"
    weak_spec.write_text(yaml.safe_dump(raw))
    weak = train_from_spec(weak_spec, feature_dir, settings)
    failed = [g.name for g in weak.gates if not g.passed]
    assert failed == ["vs_champion"], weak.gates
    client = registry_client(settings)
    assert str(version_for_alias(client, "cad_risk", "champion").version) == champion.version


def test_hyperparameter_search_logs_each_trial_as_a_child_run(settings: Settings, feature_dir: Path,
                                                              tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "tests" / "specs" / "cad_risk_binary.yaml").read_text())
    raw.update(search={"trials": 4, "timeout_seconds": 120}, baselines=[], bootstrap_samples=20)
    spec = tmp_path / "searched.yaml"
    spec.write_text(yaml.safe_dump(raw))
    outcome = train_from_spec(spec, feature_dir, settings)
    client = registry_client(settings)
    parent = client.get_run(outcome.run_id)
    children = client.search_runs([parent.info.experiment_id],
                                  filter_string=f"tags.mlflow.parentRunId = '{outcome.run_id}'")
    assert len(children) == 4
    best = min(children, key=lambda r: r.data.metrics["validation_logloss"])
    assert parent.data.params["xgb.max_depth"] == best.data.params["max_depth"]
    assert float(parent.data.params["xgb.learning_rate"]) == pytest.approx(float(best.data.params["learning_rate"]))
