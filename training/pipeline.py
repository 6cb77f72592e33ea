"""Train one model from its spec, end to end: data -> fit -> evaluate -> log -> register -> promote.

The champion alias moves only after every step has succeeded and the spec's gates pass on held-out
patients. Any exception before registration leaves the registry untouched.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import sklearn
import xgboost

from pmed.bundle import write_bundle
from pmed.settings import Settings
from training import tracking
from training.data import data_fingerprint, describe_features, load_training_data
from training.evaluate import evaluate_risk
from training.fit import FittedModel, TrainingData, fit_model
from training.gates import GateResult, all_passed, check_gates
from training.spec import ModelSpec, load_spec
from training.split import Split, split_patients

Progress = Callable[[str], None]
CHAMPION = "champion"


@dataclass(frozen=True)
class TrainingOutcome:
    model_name: str
    run_id: str
    version: str
    metrics: dict[str, float]
    gates: list[GateResult]
    promoted: bool


def train_from_spec(spec_path: Path, features_dir: Path, settings: Settings,
                    progress: Progress = lambda _: None) -> TrainingOutcome:
    spec = load_spec(spec_path)
    progress(f"loading features for {spec.name} from {features_dir}")
    data = load_training_data(features_dir, spec)
    split = split_patients(data.keys, spec.split, spec.seed)
    progress(f"{len(data.y)} patients at risk: train {len(split.train)}, validation {len(split.validation)}, "
             f"test {len(split.test)}; fitting XGBoost with early stopping")
    fitted = fit_model(spec, data, split)
    metrics = held_out_metrics(spec, data, split, fitted)
    gates = check_gates(spec.gates, metrics)
    progress(f"test AUROC {metrics['auroc']:.3f} (95% CI {metrics['auroc_ci_low']:.3f}-"
             f"{metrics['auroc_ci_high']:.3f}), calibration slope {metrics['calibration_slope']:.2f}"
             + (f", oracle AUROC {metrics['oracle_auroc']:.3f}" if "oracle_auroc" in metrics else ""))
    client = tracking.configure_mlflow(settings)
    with tempfile.TemporaryDirectory() as tmp:
        bundle_dir = Path(tmp) / "bundle"
        feature_spec = feature_spec_for(spec, data, split)
        write_bundle(bundle_dir, fitted.booster, fitted.calibrator, feature_spec)
        logged = tracking.log_and_register(
            model_name=spec.name, bundle_dir=bundle_dir, spec_path=spec_path,
            params=run_params(spec, fitted), metrics=metrics,
            tags=run_tags(spec, features_dir), reports={"gates": [g.model_dump() for g in gates]},
            input_example=pd.DataFrame([{f["name"]: f["example"] for f in feature_spec["features"]}]),
        )
    tracking.verify_version(client, spec.name, logged.version)
    passed = all_passed(gates)
    tracking.record_gates(client, spec.name, logged.version, passed, [g.model_dump() for g in gates])
    if passed:
        tracking.set_alias(client, spec.name, CHAMPION, logged.version)
    return TrainingOutcome(spec.name, logged.run_id, logged.version, metrics, gates, promoted=passed)


def held_out_metrics(spec: ModelSpec, data: TrainingData, split: Split, fitted: FittedModel) -> dict[str, float]:
    """Test-set metrics, plus the oracle's when the cohort carries true risks (simulated data)."""
    y_test = data.y[split.test]
    metrics = evaluate_risk(y_test, fitted.risk(data.X[split.test]), spec.seed)
    metrics["best_iteration"] = float(fitted.best_iteration)
    truth = f"true_risk_{spec.target}"
    if truth in data.cohort.columns:
        oracle = evaluate_risk(y_test, data.cohort[truth].to_numpy()[split.test], spec.seed)
        metrics["oracle_auroc"] = oracle["auroc"]
        metrics["oracle_brier"] = oracle["brier"]
        metrics["auroc_gap_to_oracle"] = oracle["auroc"] - metrics["auroc"]
    return metrics


def feature_spec_for(spec: ModelSpec, data: TrainingData, split: Split) -> dict[str, object]:
    """What serving needs to validate requests and label explanations, fixed at training time."""
    return {
        "model": spec.name,
        "description": spec.description,
        "intended_use": spec.intended_use,
        "task": spec.task,
        "target": spec.target,
        "horizon_years": spec.horizon_years,
        "calibration": spec.calibration,
        "features": describe_features(spec, data.X[split.train]),
    }


def run_params(spec: ModelSpec, fitted: FittedModel) -> dict[str, object]:
    params = {f"xgb.{k}": v for k, v in spec.xgboost.model_dump().items()}
    params.update({"target": spec.target, "horizon_years": spec.horizon_years, "seed": spec.seed,
                   "calibration": spec.calibration, "n_features": len(spec.features),
                   "best_iteration": fitted.best_iteration,
                   "monotone_constraints": str(spec.monotone_constraints) or "none"})
    return params


def run_tags(spec: ModelSpec, features_dir: Path) -> dict[str, str]:
    return {
        "pmed.model": spec.name,
        "pmed.data_fingerprint": data_fingerprint(features_dir),
        "pmed.seed": str(spec.seed),
        "pmed.git_sha": _git_sha(),
        "pmed.version.xgboost": xgboost.__version__,
        "pmed.version.scikit-learn": sklearn.__version__,
        "pmed.version.pandas": pd.__version__,
        "pmed.version.mlflow": mlflow.__version__,
    }


def _git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"
