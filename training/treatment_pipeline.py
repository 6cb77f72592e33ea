"""Train, calibrate, evaluate and register the antiplatelet treatment-response model.

Three simulated trials with disjoint seeds play three roles: fit (the trial), calibrate the interval
(known true effects; see training/treatment_effect.py) and evaluate (fresh patients). The bundle is
the usual pmed bundle (booster.ubj = the full-data S-learner, an identity sigmoid calibrator, the
feature spec) plus the bootstrap boosters and their JSON as extra files with SHA-256 manifest entries.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.sim.trial import ARMS, FEATURES, read_trial, read_truth
from pmed.bundle import write_bundle
from pmed.calibration import SigmoidCalibrator
from pmed.progress import progress_bar
from pmed.settings import Settings
from training.treatment_effect import LearnerParams, TreatmentEffectModel
from training.treatment_eval import effect_metrics, policy_table, standard_policies

MODEL_NAME = "antiplatelet_response"
TREATMENT_FEATURE = "treated"
_FEATURES = {  # name: (display name, unit, kind, min, max, required)
    "age_years": ("Age", "years", "continuous", 18, 100, True),
    "female": ("Female sex", "1 = female, 0 = male", "binary", 0, 1, True),
    "weight_kg": ("Body weight", "kg", "continuous", 30, 250, True),
    "diabetes": ("Diabetes", "1 = yes", "binary", 0, 1, True),
    "egfr_ml_min": ("eGFR", "mL/min/1.73m2", "continuous", 5, 150, True),
    "prior_bleeding": ("Prior major bleeding", "1 = yes", "binary", 0, 1, True),
    "stemi": ("STEMI presentation", "1 = STEMI, 0 = NSTE-ACS", "binary", 0, 1, True),
    "current_smoker": ("Current smoker", "1 = yes", "binary", 0, 1, True),
    "cyp2c19_phenotype_code": ("CYP2C19 phenotype", "0 PM, 1 IM, 2 NM, 3 RM, 4 UM (CPIC)", "count", 0, 4, False),
    TREATMENT_FEATURE: ("Ticagrelor (vs clopidogrel)", "1 = ticagrelor", "binary", 0, 1, True),
}


@dataclass(frozen=True)
class TreatmentOutcome:
    model: TreatmentEffectModel
    metrics: dict[str, float]
    policies: list[dict[str, Any]]
    run_id: str | None = None
    version: str | None = None
    promoted: bool = False


def matrix(trial: pd.DataFrame) -> np.ndarray:
    return trial[list(FEATURES)].to_numpy(dtype=np.float64)


def fit_and_evaluate(train_dir: Path, calibration_dir: Path, test_dir: Path,
                     params: LearnerParams = LearnerParams()) -> TreatmentOutcome:
    """Fit on one trial, calibrate intervals on a second, score on a third (binary NACE outcome)."""
    train = read_trial(train_dir)
    with progress_bar("effect boosters (full data + bootstrap)", params.n_bootstrap + 1) as advance:
        model = TreatmentEffectModel(list(FEATURES), "binary", params).fit(
            matrix(train), train["treated"].to_numpy(), train["nace_1y"].to_numpy(), advance)
    model.calibrate(matrix(read_trial(calibration_dir)), read_truth(calibration_dir)["true_effect"].to_numpy())
    metrics, policies = evaluate(model, read_trial(test_dir), read_truth(test_dir))
    return TreatmentOutcome(model, metrics, policies)


def evaluate(model: TreatmentEffectModel, test: pd.DataFrame, truth: pd.DataFrame
             ) -> tuple[dict[str, float], list[dict[str, Any]]]:
    pred = model.predict(matrix(test))
    metrics = effect_metrics(pred.effect, truth["true_effect"].to_numpy(), pred.low, pred.high)
    policies = {**standard_policies(len(test), test["cyp2c19_phenotype"]),
                "model (effect < 0 -> ticagrelor)": (pred.effect < 0).astype(int)}
    table = policy_table(policies, truth["true_risk_clopidogrel"].to_numpy(), truth["true_risk_ticagrelor"].to_numpy())
    metrics["policy_regret"] = next(r["regret"] for r in table if r["policy"].startswith("model"))
    metrics["cpic_regret"] = next(r["regret"] for r in table if r["policy"].startswith("CPIC"))
    return metrics, table


def feature_spec(train: pd.DataFrame, model: TreatmentEffectModel) -> dict[str, Any]:
    features = []
    for name, (display, unit, kind, low, high, required) in _FEATURES.items():
        values = train[name].to_numpy(dtype=np.float64) if name in train else np.array([0.0, 1.0])
        seen = values[~np.isnan(values)]
        features.append({"name": name, "display_name": display, "unit": unit, "source": "trial", "kind": kind,
                         "min": low, "max": high, "required": required, "concept": display, "loinc": None,
                         "example": float(np.median(seen)), "training_min": float(seen.min()),
                         "training_max": float(seen.max()), "training_missing_rate": float(1 - seen.size / values.size)})
    return {"model": MODEL_NAME, "task": "treatment_response", "target": "nace_1y", "horizon_years": 1.0,
            "description": "1-year net adverse clinical events (MACE or major bleeding) under clopidogrel and "
                           "ticagrelor, with the difference and a 95% interval (simulated trial)",
            "intended_use": "Demonstration on a simulated trial; not for clinical use",
            "calibration": "none (the S-learner's own probabilities)", "decision_thresholds": [],
            "features": features,
            "treatment": {"feature": TREATMENT_FEATURE, "arms": list(ARMS), "reference": ARMS[0],
                          "effect": f"{ARMS[1]} minus {ARMS[0]}", "learner": "S-learner (XGBoost)",
                          "outcome": model.outcome, "interval_k": model.interval_k, "interval_c": model.interval_c}}


def register(outcome: TreatmentOutcome, train_dir: Path, settings: Settings,
             extra_metrics: dict[str, float] | None = None,
             extra_reports: dict[str, Any] | None = None) -> TreatmentOutcome:
    """Log the run with its bundle to MLflow, register a version and point ``champion`` at it if the gates pass.

    ``extra_metrics`` and ``extra_reports`` carry what a caller measured beside the model (the bench's
    peers, policies and latency), so one run holds the whole comparison.
    """
    from training.tracking import conclude_version, configure_mlflow, log_and_register

    client = configure_mlflow(settings)
    train = read_trial(train_dir)
    spec = feature_spec(train, outcome.model)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        extras = outcome.model.save(work / "effect")
        write_bundle(work / "bundle", outcome.model.boosters_[0], SigmoidCalibrator(), spec, extras=extras)
        spec_path = work / "learner.json"
        spec_path.write_text(json.dumps(asdict(outcome.model.params), indent=2) + "\n", encoding="utf-8")
        example = pd.DataFrame([{f["name"]: f["example"] for f in spec["features"]}])
        logged = log_and_register(model_name=MODEL_NAME, bundle_dir=work / "bundle", spec_path=spec_path,
                                  params={f"learner.{k}": v for k, v in asdict(outcome.model.params).items()},
                                  metrics={**outcome.metrics, **(extra_metrics or {})},
                                  tags={"pmed.model": MODEL_NAME},
                                  reports={"policies": {"rows": outcome.policies}, **(extra_reports or {})}, files={},
                                  input_example=example)
    gates = [{"name": "coverage_95", "rule": ">= 0.90", "value": outcome.metrics["coverage_95"],
              "passed": outcome.metrics["coverage_95"] >= 0.90},
             {"name": "policy_regret", "rule": "<= CPIC rule's", "value": outcome.metrics["policy_regret"],
              "passed": outcome.metrics["policy_regret"] <= outcome.metrics["cpic_regret"]}]
    passed = conclude_version(client, MODEL_NAME, logged.version, gates)  # verified before the alias may move
    return TreatmentOutcome(outcome.model, outcome.metrics, outcome.policies, logged.run_id, logged.version, passed)
