"""T-, X- and DR-learners with XGBoost base learners: the peers the S-learner was chosen against.

Point estimates only (no intervals, not served); bench/treatment_bench.py measures them side by side.
The trial is randomised 1:1, so the propensity is the known 0.5 rather than a fitted model.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import xgboost as xgb

from training.treatment.effect import LearnerParams, OutcomeKind

Estimate = Callable[[np.ndarray], np.ndarray]


def _fit(params: LearnerParams, outcome: OutcomeKind, X: np.ndarray, y: np.ndarray) -> xgb.Booster:
    return xgb.train(params.xgb_params(outcome, params.seed), xgb.DMatrix(X, label=y, missing=np.nan), params.rounds)


def _predict(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    return booster.predict(xgb.DMatrix(X, missing=np.nan)).astype(np.float64)


def t_learner(X: np.ndarray, t: np.ndarray, y: np.ndarray, params: LearnerParams,
              outcome: OutcomeKind = "binary") -> Estimate:
    m0, m1 = (_fit(params, outcome, X[t == a], y[t == a]) for a in (0, 1))
    return lambda Xn: _predict(m1, Xn) - _predict(m0, Xn)


def x_learner(X: np.ndarray, t: np.ndarray, y: np.ndarray, params: LearnerParams,
              outcome: OutcomeKind = "binary") -> Estimate:
    """Kuenzel et al. 2019: impute each arm's individual effects with the other arm's model, then regress."""
    m0, m1 = (_fit(params, outcome, X[t == a], y[t == a]) for a in (0, 1))
    d1 = y[t == 1] - _predict(m0, X[t == 1])
    d0 = _predict(m1, X[t == 0]) - y[t == 0]
    r1 = _fit(params, "continuous", X[t == 1], d1)
    r0 = _fit(params, "continuous", X[t == 0], d0)
    return lambda Xn: 0.5 * _predict(r1, Xn) + 0.5 * _predict(r0, Xn)


def dr_learner(X: np.ndarray, t: np.ndarray, y: np.ndarray, params: LearnerParams,
               outcome: OutcomeKind = "binary", propensity: float = 0.5) -> Estimate:
    """Kennedy 2023: regress the cross-fitted doubly robust pseudo-outcome on X."""
    fold = np.random.default_rng(params.seed).integers(0, 2, len(y))
    mu = np.zeros((2, len(y)))
    for k in (0, 1):
        fit_rows, out_rows = fold != k, fold == k
        for a in (0, 1):
            rows = fit_rows & (t == a)
            mu[a, out_rows] = _predict(_fit(params, outcome, X[rows], y[rows]), X[out_rows])
    pseudo = mu[1] - mu[0] + t * (y - mu[1]) / propensity - (1 - t) * (y - mu[0]) / (1 - propensity)
    final = _fit(params, "continuous", X, pseudo)
    return lambda Xn: _predict(final, Xn)
