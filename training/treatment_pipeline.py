"""Train, calibrate, evaluate and register the antiplatelet treatment-response model.

On simulated trials, three trials with disjoint seeds play three roles: fit, calibrate the interval
(known true effects; see training/treatment_effect.py) and evaluate (fresh patients, scored against the
truth). On a real trial (no truth.csv) the model is fitted on part of it and judged on held-out patients
(or a second trial) by what randomisation alone supports: each rule's estimated event rate and the
effect-ranking check (``training.treatment_eval``); its interval is then the bootstrap's alone, and says so.
Both are evaluated by the truth-free estimates, so a simulated run also shows how close they come.

The bundle is the usual pmed bundle (booster.ubj = the full-data S-learner, an identity sigmoid
calibrator, the feature spec) plus the bootstrap boosters and their JSON as extra files with SHA-256
manifest entries.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.trial import ARMS, COVARIATES, FEATURES, read_trial, read_truth
from kernel.bundle import write_bundle
from kernel.calibration import SigmoidCalibrator
from kernel.progress import progress_bar
from kernel.settings import Settings
from training.treatment_effect import LearnerParams, TreatmentEffectModel
from training.treatment_eval import (
    effect_calibration,
    effect_metrics,
    estimated_policy_values,
    policy_table,
    standard_policies,
)

MODEL_NAME = "antiplatelet_response"
TREATMENT_FEATURE = "treated"
CPIC_RULE = "CPIC rule (PM/IM -> ticagrelor)"
MODEL_RULE = "model (effect < 0 -> ticagrelor)"
SIMPLE_RULES = ("all clopidogrel", "all ticagrelor", CPIC_RULE)
_FEATURES = {  # name: (display name, unit, kind, required); ranges from features.trial.COVARIATES
    "age_years": ("Age", "years", "continuous", True),
    "female": ("Female sex", "1 = female, 0 = male", "binary", True),
    "weight_kg": ("Body weight", "kg", "continuous", True),
    "diabetes": ("Diabetes", "1 = yes, 0 = no", "binary", True),
    "egfr_ml_min": ("eGFR", "mL/min/1.73m2", "continuous", True),
    "prior_bleeding": ("Prior major bleeding", "1 = yes, 0 = no", "binary", True),
    "stemi": ("STEMI presentation", "1 = STEMI, 0 = NSTE-ACS", "binary", True),
    "current_smoker": ("Current smoker", "1 = yes, 0 = no", "binary", True),
    "cyp2c19_phenotype_code": ("CYP2C19 phenotype", "0 = poor metabolizer, 1 = intermediate metabolizer, 2 = normal metabolizer, "
                               "3 = rapid metabolizer, 4 = ultrarapid metabolizer (CPIC)", "count", False),
    TREATMENT_FEATURE: ("Ticagrelor (vs clopidogrel)", "1 = ticagrelor, 0 = clopidogrel", "binary", True),
}
_RANGES = {**COVARIATES, "cyp2c19_phenotype_code": (0, 4), TREATMENT_FEATURE: (0, 1)}


@dataclass(frozen=True)
class TreatmentOutcome:
    model: TreatmentEffectModel
    metrics: dict[str, float]
    policies: list[dict[str, Any]]
    run_id: str | None = None
    version: str | None = None
    promoted: bool = False
    simulated: bool = True  # evaluated against known true effects
    effect_groups: list[dict[str, float]] = field(default_factory=list)  # GATES on the evaluation patients
    fitted: pd.DataFrame | None = None  # the patients the model was fitted on (the feature spec's ranges)


def matrix(trial: pd.DataFrame) -> np.ndarray:
    return trial[list(FEATURES)].to_numpy(dtype=np.float64)


def fit_and_evaluate(train_dir: Path, calibration_dir: Path | None = None, test_dir: Path | None = None,
                     params: LearnerParams = LearnerParams(), holdout: float = 0.3,
                     quarantine_dir: Path | None = None) -> TreatmentOutcome:
    """Fit the ensemble on a trial (binary NACE outcome), calibrate its interval where a calibration trial
    with known effects is given, and evaluate on ``test_dir`` or, without one, on a seeded ``holdout``
    share of the trial's patients that the model never sees.

    Rejected trial rows go to ``quarantine_dir`` (one CSV per trial folder); without it they are an error.
    """
    if calibration_dir is not None and not (calibration_dir / "truth.csv").is_file():
        raise ValueError(f"{calibration_dir}: interval calibration needs the true effects (truth.csv), which "
                         "only a simulated trial has; leave --calibration out for a real trial")
    train = _read(train_dir, quarantine_dir)
    if test_dir is None:
        train, test = split_holdout(train, holdout, params.seed)
        truth_dir = train_dir
    else:
        test, truth_dir = _read(test_dir, quarantine_dir), test_dir
    with progress_bar("effect boosters (full data + bootstrap)", params.n_bootstrap + 1) as advance:
        model = TreatmentEffectModel(list(FEATURES), "binary", params).fit(
            matrix(train), train["treated"].to_numpy(), train["nace_1y"].to_numpy(), advance)
    if calibration_dir is not None:
        calibration = _read(calibration_dir, quarantine_dir)
        model.calibrate(matrix(calibration), _truth_for(calibration_dir, calibration)["true_effect"].to_numpy())
    truth = _truth_for(truth_dir, test) if (truth_dir / "truth.csv").is_file() else None
    metrics, policies, groups = evaluate(model, test, truth)
    return TreatmentOutcome(model, metrics, policies, simulated=truth is not None, effect_groups=groups, fitted=train)


def split_holdout(trial: pd.DataFrame, share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fit, held-out) patients: a seeded random ``share`` held out within each arm, so both keep 1:1."""
    if not 0.05 <= share <= 0.5:
        raise ValueError(f"holdout share must be within 0.05-0.5, not {share}")
    rng = np.random.default_rng(seed)
    held = np.zeros(len(trial), dtype=bool)
    for arm in (0, 1):
        rows = np.flatnonzero(trial["treated"].to_numpy() == arm)
        held[rng.choice(rows, round(share * len(rows)), replace=False)] = True
    return trial[~held].reset_index(drop=True), trial[held].reset_index(drop=True)


def _read(folder: Path, quarantine_dir: Path | None) -> pd.DataFrame:
    return read_trial(folder, None if quarantine_dir is None else quarantine_dir / f"trial-{folder.name}.csv")


def _truth_for(folder: Path, trial: pd.DataFrame) -> pd.DataFrame:
    """The simulator's truth rows of exactly these patients, in their order."""
    return read_truth(folder).set_index("patient_id").loc[trial["patient_id"]].reset_index()


def evaluate(model: TreatmentEffectModel, test: pd.DataFrame, truth: pd.DataFrame | None
             ) -> tuple[dict[str, float], list[dict[str, Any]], list[dict[str, float]]]:
    """Metrics, the rules' table and the effect groups on the evaluation patients.

    Always the truth-free estimates (``est_*``, ``blp_*``); with the simulator's truth also PEHE, coverage
    and each rule's true value and regret.
    """
    pred = model.predict(matrix(test))
    treated, y = test["treated"].to_numpy(), test["nace_1y"].to_numpy(dtype=np.float64)
    policies = {**standard_policies(len(test), test["cyp2c19_phenotype"]), MODEL_RULE: (pred.effect < 0).astype(int)}
    estimated = estimated_policy_values(policies, treated, y, reference=CPIC_RULE, seed=model.params.seed)
    by_name = {r["policy"]: r for r in estimated}
    best = min(SIMPLE_RULES, key=lambda name: by_name[name]["value"])
    versus_best = estimated_policy_values({MODEL_RULE: policies[MODEL_RULE], best: policies[best]}, treated, y,
                                          reference=best, seed=model.params.seed)[0]
    calibration, groups = effect_calibration(pred.effect, treated, y)
    metrics = {**calibration, "n_evaluated": float(len(test)),
               "est_model_risk": by_name[MODEL_RULE]["value"], "est_cpic_risk": by_name[CPIC_RULE]["value"],
               "est_model_minus_cpic": by_name[MODEL_RULE]["minus_reference"],
               "est_model_minus_cpic_ci_low": by_name[MODEL_RULE]["minus_reference_ci_low"],
               "est_model_minus_cpic_ci_high": by_name[MODEL_RULE]["minus_reference_ci_high"],
               "est_model_minus_best_simple": versus_best["minus_reference"],
               "est_model_minus_best_simple_ci_low": versus_best["minus_reference_ci_low"],
               "est_model_minus_best_simple_ci_high": versus_best["minus_reference_ci_high"]}
    table = [{**r, "estimated_value": r.pop("value")} for r in estimated]
    if truth is not None:
        metrics |= effect_metrics(pred.effect, truth["true_effect"].to_numpy(), pred.low, pred.high)
        true = policy_table(policies, truth["true_risk_clopidogrel"].to_numpy(),
                            truth["true_risk_ticagrelor"].to_numpy())
        true_by_name = {r["policy"]: r for r in true}
        table = [{**row, "true_value": true_by_name[row["policy"]]["value"],
                  "regret": true_by_name[row["policy"]]["regret"]} for row in table]
        table.insert(0, {"policy": "oracle", "true_value": true_by_name["oracle"]["value"], "regret": 0.0,
                         "share_alternative": true_by_name["oracle"]["share_alternative"]})
        metrics["policy_regret"] = true_by_name[MODEL_RULE]["regret"]
        metrics["cpic_regret"] = true_by_name[CPIC_RULE]["regret"]
    return metrics, table, groups


def gates_for(outcome: TreatmentOutcome) -> list[dict[str, Any]]:
    """Against the truth on a simulated trial; on a real one, what randomisation supports."""
    m = outcome.metrics
    if outcome.simulated:
        return [{"name": "coverage_95", "rule": ">= 0.90", "value": m["coverage_95"],
                 "passed": m["coverage_95"] >= 0.90},
                {"name": "policy_regret", "rule": "<= CPIC rule's", "value": m["policy_regret"],
                 "passed": m["policy_regret"] <= m["cpic_regret"]}]
    return [{"name": "effect_ranking", "rule": "best-linear-predictor slope > 0 on held-out patients",
             "value": m["blp_slope"], "passed": m["blp_slope"] > 0},
            {"name": "policy_vs_simple_rules",
             "rule": "model rule's estimated risk not above the best simple rule's beyond its 95% CI (CI low <= 0)",
             "value": m["est_model_minus_best_simple"], "passed": m["est_model_minus_best_simple_ci_low"] <= 0}]


def feature_spec(train: pd.DataFrame, model: TreatmentEffectModel, simulated: bool = True) -> dict[str, Any]:
    features = []
    for name, (display, unit, kind, required) in _FEATURES.items():
        low, high = _RANGES[name]
        values = train[name].to_numpy(dtype=np.float64) if name in train else np.array([0.0, 1.0])
        seen = values[~np.isnan(values)]
        features.append({"name": name, "display_name": display, "unit": unit, "source": "trial", "kind": kind,
                         "min": low, "max": high, "required": required, "concept": display, "loinc": None,
                         "example": float(np.median(seen)), "training_min": float(seen.min()),
                         "training_max": float(seen.max()),
                         "training_missing_rate": float(1 - seen.size / values.size)})
    return {"model": MODEL_NAME, "task": "treatment_response", "target": "nace_1y", "horizon_years": 1.0,
            "description": "1-year net adverse clinical events (MACE or major bleeding) under clopidogrel and "
                           "ticagrelor, with the difference and a 95% interval "
                           + ("(simulated trial)" if simulated else "(randomised trial supplied by the user)"),
            "intended_use": "Demonstration on a simulated trial; not for clinical use" if simulated else
                            "Research use on the population of the trial it was fitted on; the interval is the "
                            "bootstrap's (sampling variance only) and may cover less than 95%",
            "calibration": "none (the S-learner's own probabilities)", "decision_thresholds": [],
            "features": features,
            "treatment": {"feature": TREATMENT_FEATURE, "arms": list(ARMS), "reference": ARMS[0],
                          "effect": f"{ARMS[1]} minus {ARMS[0]}", "learner": "S-learner (XGBoost)",
                          "outcome": model.outcome, "interval_k": model.interval_k, "interval_c": model.interval_c,
                          "simulated": simulated}}


def register(outcome: TreatmentOutcome, train_dir: Path, settings: Settings,
             extra_metrics: dict[str, float] | None = None,
             extra_reports: dict[str, Any] | None = None, quarantine_dir: Path | None = None) -> TreatmentOutcome:
    """Log the run with its bundle to MLflow, register a version and point ``champion`` at it if the gates pass.

    ``extra_metrics`` and ``extra_reports`` carry what a caller measured beside the model (the bench's
    peers, policies and latency), so one run holds the whole comparison.
    """
    from training.tracking import conclude_version, configure_mlflow, log_and_register

    client = configure_mlflow(settings)
    train = outcome.fitted if outcome.fitted is not None else _read(train_dir, quarantine_dir)
    spec = feature_spec(train, outcome.model, outcome.simulated)
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
                                  reports={"policies": {"rows": outcome.policies},
                                           "effect_groups": {"rows": outcome.effect_groups}, **(extra_reports or {})},
                                  files={},
                                  input_example=example)
    passed = conclude_version(client, MODEL_NAME, logged.version, gates_for(outcome))  # verified first
    return replace(outcome, run_id=logged.run_id, version=logged.version, promoted=passed)
