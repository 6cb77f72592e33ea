"""Baselines scored on the same test patients as the survival model, fitted on its training + validation patients.

- ``cox_ph``: scikit-survival's ``CoxPHSurvivalAnalysis`` on the same features, median-imputed and
  standardised, with a light ridge penalty so one-hot columns that are nearly collinear still converge.
- ``kaplan_meier``: one survival curve for everyone (no covariates): the floor any model must beat on Brier.
- ``naive_binary``: what pmed's risk task would do with this table: drop the patients censored before the
  horizon, call the rest 0/1 by the horizon and fit the XGBoost risk model with its sigmoid calibrator.
  Dropping them removes event-free follow-up, so its risks run high; it is reported to show by how much.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.nonparametric import kaplan_meier_estimator

from training.fit import TrainingData, fit_model, linear_design
from training.spec import ModelSpec
from training.split import Split
from training.survival.fit import SurvivalData
from training.survival.scoring import Scored

COX_RIDGE = 1e-2


def cox_ph(survival: SurvivalData, split: Split, horizon: float, spec: ModelSpec | None = None) -> Scored:
    """Linear Cox PH on the same features; survival from its Breslow baseline on its own fitting patients.

    With ``spec``, categorical features enter as one 0/1 column per level (``training.fit.linear_design``): on the
    trees' level positions a linear model would read an unordered category as a dose, and trail for that alone."""
    fit_rows = np.concatenate([split.train, split.validation])
    X = survival.data.X if spec is None else linear_design(spec, survival.data.X)
    model = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                          CoxPHSurvivalAnalysis(alpha=COX_RIDGE)).fit(X[fit_rows], survival.surv(fit_rows))
    curves = model.predict_survival_function(X[split.test])

    def curve(times: np.ndarray) -> np.ndarray:
        return np.vstack([fn(np.clip(times, fn.domain[0], fn.domain[1])) for fn in curves])

    return Scored(score=np.asarray(model.predict(X[split.test])), risk=1 - curve(np.array([horizon]))[:, 0],
                  survival=curve)


def kaplan_meier(survival: SurvivalData, split: Split, horizon: float) -> Scored:
    """The training + validation patients' Kaplan-Meier curve, the same for every test patient."""
    fit_rows = np.concatenate([split.train, split.validation])
    times, surv = kaplan_meier_estimator(survival.data.y[fit_rows].astype(bool), survival.time[fit_rows])
    n = len(split.test)

    def curve(grid: np.ndarray) -> np.ndarray:
        at = np.searchsorted(times, grid, side="right") - 1
        values = np.where(at >= 0, surv[np.maximum(at, 0)], 1.0)
        return np.tile(values, (n, 1))

    return Scored(score=np.zeros(n), risk=1 - curve(np.array([horizon]))[:, 0], survival=curve)


def naive_binary(spec: ModelSpec, survival: SurvivalData, split: Split, horizon: float) -> Scored:
    """The risk task's model fitted on the patients followed to the horizon or with an event by it."""
    time, event = survival.time, survival.data.y == 1
    known = event & (time <= horizon) | (time >= horizon)
    y = (event & (time <= horizon)).astype(int)
    keep_train, keep_valid = split.train[known[split.train]], split.validation[known[split.validation]]
    rows = np.concatenate([keep_train, keep_valid])
    data = TrainingData(X=survival.data.X[rows], y=y[rows], keys=pd.Series(np.arange(len(rows))),
                        cohort=pd.DataFrame(index=range(len(rows))), source=pd.DataFrame())
    naive_split = Split(train=np.arange(len(keep_train)), validation=np.arange(len(keep_train), len(rows)),
                        test=np.arange(0))
    fitted = fit_model(spec.model_copy(update={"calibration": "sigmoid"}), data, naive_split)
    risk = fitted.risk(survival.data.X[split.test])

    def curve(grid: np.ndarray) -> np.ndarray:  # a risk at one horizon says nothing about other times
        return np.where(grid[None, :] == horizon, 1 - risk[:, None], np.nan)

    return Scored(score=risk, risk=risk, survival=curve)
