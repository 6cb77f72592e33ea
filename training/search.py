"""Hyperparameter search within a budget: Optuna's seeded TPE sampler over a fixed, documented space.

Plain Python like fit.py: it returns the best parameters and one record per trial; the MLflow side
logs the trials as child runs of the training run.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
import xgboost as xgb

from kernel.progress import Advance
from training.fit import TrainingData, booster_params
from training.spec import ModelSpec, XGBoostParams
from training.split import Split

SPACE = {  # name: (low, high, log scale)
    "max_depth": (2, 6, False),
    "learning_rate": (0.01, 0.2, True),
    "min_child_weight": (1.0, 50.0, True),
    "subsample": (0.5, 1.0, False),
    "colsample_bytree": (0.5, 1.0, False),
    "reg_lambda": (0.1, 20.0, True),
}


def search_params(spec: ModelSpec, data: TrainingData, split: Split,
                  advance: Advance | None = None) -> tuple[XGBoostParams, list[dict[str, Any]]]:
    """(best parameters, trials as {number, params, validation_logloss, best_iteration})."""
    assert spec.search is not None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    train = xgb.DMatrix(data.X[split.train], label=data.y[split.train], missing=np.nan)
    valid = xgb.DMatrix(data.X[split.validation], label=data.y[split.validation], missing=np.nan)
    records: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        suggested = {name: _suggest(trial, name, *bounds) for name, bounds in SPACE.items()}
        params = spec.xgboost.model_copy(update=suggested)
        result: dict[str, Any] = {}
        booster = xgb.train(booster_params(spec.model_copy(update={"xgboost": params})), train,
                            num_boost_round=params.n_estimators, evals=[(valid, "validation")],
                            early_stopping_rounds=params.early_stopping_rounds, verbose_eval=False,
                            evals_result=result)
        loss = float(min(result["validation"]["logloss"]))
        records.append({"number": trial.number, "params": trial.params, "validation_logloss": loss,
                        "best_iteration": int(booster.best_iteration)})
        return loss

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=spec.seed))
    study.optimize(objective, n_trials=spec.search.trials, timeout=spec.search.timeout_seconds,
                   callbacks=[lambda _study, _trial: advance(1)] if advance else None)
    return spec.xgboost.model_copy(update=study.best_params), records


def _suggest(trial: optuna.Trial, name: str, low: float, high: float, log: bool) -> float | int:
    if isinstance(low, int) and isinstance(high, int):
        return trial.suggest_int(name, low, high)
    return trial.suggest_float(name, low, high, log=log)
