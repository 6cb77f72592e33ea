"""Fit an XGBoost risk model and its calibrator. Plain Python: no MLflow, no files."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb
from typing_extensions import override

from kernel.calibration import Calibrator, fit_calibrator
from kernel.progress import Advance
from training.spec import ModelSpec, feature_definitions
from training.split import Split


@dataclass(frozen=True)
class TrainingData:
    """The eligible patients of one model: features in spec order, the binary target, cohort columns."""

    X: np.ndarray
    y: np.ndarray
    keys: pd.Series
    cohort: pd.DataFrame
    source: pd.DataFrame  # the whole joined table, for scoring a champion that uses other features


@dataclass(frozen=True)
class FittedModel:
    booster: xgb.Booster
    calibrator: Calibrator
    best_iteration: int

    def margin(self, X: np.ndarray) -> np.ndarray:
        return self.booster.predict(xgb.DMatrix(X, missing=np.nan), output_margin=True)

    def risk(self, X: np.ndarray) -> np.ndarray:
        return self.calibrator.predict(self.margin(X))


def linear_design(spec: ModelSpec, X: np.ndarray) -> np.ndarray:
    """X for a linear baseline (logistic regression, Cox PH): each categorical feature, which the trees see as its
    level's position, becomes one 0/1 column per level but the first (the reference); a missing level stays
    missing in each. A linear model on positions would read an unordered category as a dose and trail the
    booster for that reason alone."""
    columns = []
    for j, feature in enumerate(feature_definitions(spec)):
        values = X[:, j].astype(np.float64)
        if feature.kind != "categorical" or feature.levels is None:
            columns.append(values[:, None])
            continue
        dummies = np.stack([(values == k).astype(np.float64) for k in range(1, len(feature.levels))], axis=1)
        dummies[np.isnan(values)] = np.nan
        columns.append(dummies)
    return np.hstack(columns) if columns else X


def booster_params(spec: ModelSpec) -> dict[str, object]:
    p = spec.xgboost
    constraints = tuple(spec.monotone_constraints.get(name, 0) for name in spec.features)
    return {
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "tree_method": "hist",
        "max_depth": p.max_depth,
        "eta": p.learning_rate,
        "subsample": p.subsample,
        "colsample_bytree": p.colsample_bytree,
        "min_child_weight": p.min_child_weight,
        "lambda": p.reg_lambda,
        "monotone_constraints": str(constraints),
        "seed": spec.seed,
        "nthread": p.nthread,
    }


class _Rounds(xgb.callback.TrainingCallback):
    """Reports each boosting round (for a progress bar); never stops training."""

    def __init__(self, advance: Advance) -> None:
        self.advance = advance

    @override
    def after_iteration(self, model: xgb.Booster, epoch: int,
                        evals_log: xgb.callback.TrainingCallback.EvalsLog) -> bool:
        self.advance(1)
        return False


def fit_model(spec: ModelSpec, data: TrainingData, split: Split, advance: Advance | None = None) -> FittedModel:
    """Boost on the training part with early stopping on validation, then calibrate on validation.

    The booster is truncated to its best iteration before saving, so the stored model, its SHAP values
    and the calibrator all describe the same trees.
    """
    names = list(spec.features)
    train = xgb.DMatrix(data.X[split.train], label=data.y[split.train], feature_names=names, missing=np.nan)
    valid = xgb.DMatrix(data.X[split.validation], label=data.y[split.validation], feature_names=names,
                        missing=np.nan)
    booster = xgb.train(
        booster_params(spec), train, num_boost_round=spec.xgboost.n_estimators,
        evals=[(valid, "validation")], early_stopping_rounds=spec.xgboost.early_stopping_rounds,
        verbose_eval=False, callbacks=[_Rounds(advance)] if advance else None,
    )
    best = int(booster.best_iteration)
    booster = booster[: best + 1]
    booster.feature_names = None  # serving passes plain arrays in spec order; names live in the spec
    valid_margin = booster.predict(xgb.DMatrix(data.X[split.validation], missing=np.nan), output_margin=True)
    calibrator = fit_calibrator(spec.calibration, valid_margin, data.y[split.validation])
    return FittedModel(booster=booster, calibrator=calibrator, best_iteration=best)
