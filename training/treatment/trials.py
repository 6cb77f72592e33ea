"""A randomised trial as the treatment task reads it: the model's spec, reading a trial folder (and the simulator's
truth), holding patients out, the design matrix, and scoring a fitted ensemble on the evaluation patients.

Shared by the task (``training.treatment.task``) and the whole-run entry points (``training.treatment.pipeline``),
which import it; it imports neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.trial import FEATURES, read_trial, read_truth
from training.spec import ModelSpec, load_spec
from training.treatment.effect import LearnerParams, TreatmentEffectModel
from training.treatment.evaluate import (
    effect_calibration,
    effect_metrics,
    estimated_policy_values,
    policy_table,
    standard_policies,
)

MODEL_NAME = "antiplatelet_response"
SPEC_FILE = f"{MODEL_NAME}.yaml"
TREATMENT_FEATURE = "treated"
CPIC_RULE = "CPIC rule (PM/IM -> ticagrelor)"
MODEL_RULE = "model (effect < 0 -> ticagrelor)"
SIMPLE_RULES = ("all clopidogrel", "all ticagrelor", CPIC_RULE)
_PACKAGED_MODELS = Path(__file__).resolve().parents[2] / "models"  # the repository's specs, when run from elsewhere


def default_spec_path(models_dir: Path = Path("models")) -> Path:
    """The antiplatelet_response spec in ``models_dir`` (settings.models_dir), else the repository's."""
    path = models_dir / SPEC_FILE
    return path if path.is_file() else _PACKAGED_MODELS / SPEC_FILE


def default_spec(models_dir: Path = Path("models")) -> ModelSpec:
    return load_spec(default_spec_path(models_dir))


def learner_params(spec: ModelSpec) -> LearnerParams:
    """The spec's learner settings as the ensemble takes them."""
    assert spec.treatment is not None  # checked by the task when the spec was validated
    return LearnerParams(**spec.treatment.learner.model_dump())


def matrix(trial: pd.DataFrame) -> np.ndarray:
    return trial[list(FEATURES)].to_numpy(dtype=np.float64)


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


def load_trial(folder: Path, quarantine_dir: Path | None) -> pd.DataFrame:
    return read_trial(folder, None if quarantine_dir is None else quarantine_dir / f"trial-{folder.name}.csv")


def truth_for(folder: Path, trial: pd.DataFrame) -> pd.DataFrame:
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
    table: list[dict[str, Any]] = [{**r, "estimated_value": r["value"]} for r in estimated]  # keeps "value" too
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
