"""Fit an XGBoost dose model and its split-conformal interval. Plain Python: no MLflow, no files."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from kernel.calibration import DoseIntervalCalibrator
from kernel.progress import Advance
from training.fit import FittedModel, TrainingData, _Rounds, booster_params
from training.spec import DoseModel, ModelSpec
from training.split import Split


@dataclass(frozen=True)
class DoseFittedModel(FittedModel):
    """A fitted dose model, whose calibrator is the split-conformal interval on the dose scale."""

    calibrator: DoseIntervalCalibrator


def dose_settings(spec: ModelSpec) -> DoseModel:
    """The spec's dose settings (``RegressionTask.check_spec`` fills them in when the spec leaves them out)."""
    return spec.dose or DoseModel()


def dose_params(spec: ModelSpec) -> dict[str, object]:
    """The risk models' booster settings with the dose objective; MAE on validation picks the round."""
    return {**booster_params(spec), "objective": dose_settings(spec).objective, "eval_metric": "mae"}


def fitted_scale(spec: ModelSpec, dose: np.ndarray) -> np.ndarray:
    return np.sqrt(dose) if dose_settings(spec).target_transform == "sqrt" else dose


def fit_dose_model(spec: ModelSpec, data: TrainingData, split: Split, advance: Advance | None = None
                   ) -> DoseFittedModel:
    """Boost on the training patients with early stopping on validation, then size the interval there.

    As for risk models, the booster is truncated to its best round, so the stored trees, their SHAP
    values and the interval describe the same model.
    """
    label = fitted_scale(spec, data.y)
    train = xgb.DMatrix(data.X[split.train], label=label[split.train], missing=np.nan)
    valid = xgb.DMatrix(data.X[split.validation], label=label[split.validation], missing=np.nan)
    booster = xgb.train(
        dose_params(spec), train, num_boost_round=spec.xgboost.n_estimators, evals=[(valid, "validation")],
        early_stopping_rounds=spec.xgboost.early_stopping_rounds, verbose_eval=False,
        callbacks=[_Rounds(advance)] if advance else None,
    )
    best = int(booster.best_iteration)
    booster = booster[: best + 1]
    margin = booster.predict(xgb.DMatrix(data.X[split.validation], missing=np.nan), output_margin=True)
    dose = dose_settings(spec)
    calibrator = DoseIntervalCalibrator(dose.target_transform, dose.interval_coverage)
    calibrator.fit(margin, data.y[split.validation])
    return DoseFittedModel(booster=booster, calibrator=calibrator, best_iteration=best)
