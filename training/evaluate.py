"""Held-out metrics as plain data: discrimination, calibration and overall accuracy.

Calibration slope and intercept follow the usual clinical-prediction definitions: regress the observed
outcome on logit(predicted risk); the slope is that coefficient (1 is ideal, below 1 means predictions
are too extreme), and calibration-in-the-large is the intercept with logit(p) as a fixed offset
(0 is ideal).
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

_EPS = 1e-12


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def calibration_slope(y: np.ndarray, risk: np.ndarray) -> float:
    model = LogisticRegression(C=1e6, max_iter=1000).fit(logit(risk).reshape(-1, 1), y)
    return float(model.coef_[0, 0])


def calibration_intercept(y: np.ndarray, risk: np.ndarray) -> float:
    offset = logit(risk)

    def negative_log_likelihood(alpha: float) -> float:
        p = 1.0 / (1.0 + np.exp(-(offset + alpha)))
        return -float(np.sum(y * np.log(p + _EPS) + (1 - y) * np.log(1 - p + _EPS)))

    return float(minimize_scalar(negative_log_likelihood, bounds=(-10, 10), method="bounded").x)


def bootstrap_auroc_ci(y: np.ndarray, risk: np.ndarray, seed: int, n_boot: int = 200) -> tuple[float, float]:
    """Percentile 95% interval over patient resamples (resamples without both classes are skipped)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if 0 < y[idx].sum() < len(idx):
            values.append(roc_auc_score(y[idx], risk[idx]))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def evaluate_risk(y: np.ndarray, risk: np.ndarray, seed: int) -> dict[str, float]:
    """The headline metrics of a risk model on one set of patients."""
    low, high = bootstrap_auroc_ci(y, risk, seed)
    brier = float(brier_score_loss(y, risk))
    prevalence = float(y.mean())
    return {
        "n": float(len(y)),
        "events": float(y.sum()),
        "event_rate": prevalence,
        "mean_risk": float(risk.mean()),
        "auroc": float(roc_auc_score(y, risk)),
        "auroc_ci_low": low,
        "auroc_ci_high": high,
        "brier": brier,
        "scaled_brier": 1.0 - brier / max(prevalence * (1 - prevalence), _EPS),
        "calibration_slope": calibration_slope(y, risk),
        "calibration_intercept": calibration_intercept(y, risk),
    }
