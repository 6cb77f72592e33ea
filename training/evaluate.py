"""Held-out metrics as plain data: discrimination, calibration and overall accuracy.

Calibration slope and intercept follow the usual clinical-prediction definitions: regress the observed
outcome on logit(predicted risk); the slope is that coefficient (1 is ideal, below 1 means predictions
are too extreme), and calibration-in-the-large is the intercept with logit(p) as a fixed offset
(0 is ideal).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

_EPS = 1e-12
Metric = Callable[[np.ndarray, np.ndarray], float]


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


def bootstrap_ci(y: np.ndarray, risk: np.ndarray, metric: Metric, seed: int,
                 n_boot: int = 200) -> tuple[float, float]:
    """Percentile 95% interval over patient resamples (resamples without both classes are skipped)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if 0 < y[idx].sum() < len(idx):
            values.append(metric(y[idx], risk[idx]))
    if not values:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def paired_bootstrap_diff(y: np.ndarray, risk: np.ndarray, other: np.ndarray, metric: Metric, seed: int,
                          n_boot: int = 200) -> tuple[float, float, float]:
    """metric(model) - metric(other) on the same patients, with a percentile 95% CI over patient resamples.

    Both models are scored on each resample's same patients, so what the two share (which patients are easy)
    cancels and the interval is that of the difference itself, far narrower than two separate CIs suggest.
    """
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if 0 < y[idx].sum() < len(idx):
            values.append(metric(y[idx], risk[idx]) - metric(y[idx], other[idx]))
    point = metric(y, risk) - metric(y, other)
    if not values:
        return point, float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(point), float(low), float(high)


def evaluate_risk(y: np.ndarray, risk: np.ndarray, seed: int, n_boot: int = 200,
                  slope_ci: bool = True) -> dict[str, float]:
    """The headline metrics of a risk model on one set of patients, with bootstrap 95% CIs (the calibration
    slope's too, unless ``slope_ci`` is off: on a few dozen events its point estimate alone is a coin flip
    against any band; each resample refits a logistic regression, so baselines leave it out)."""
    auroc_low, auroc_high = bootstrap_ci(y, risk, roc_auc_score, seed, n_boot)
    slope_low, slope_high = bootstrap_ci(y, risk, calibration_slope, seed, n_boot) if slope_ci else (
        float("nan"), float("nan"))
    auprc_low, auprc_high = bootstrap_ci(y, risk, average_precision_score, seed, n_boot)
    brier = float(brier_score_loss(y, risk))
    prevalence = float(y.mean())
    return {
        "n": float(len(y)),
        "events": float(y.sum()),
        "event_rate": prevalence,
        "mean_risk": float(risk.mean()),
        "auroc": float(roc_auc_score(y, risk)),
        "auroc_ci_low": auroc_low,
        "auroc_ci_high": auroc_high,
        "auprc": float(average_precision_score(y, risk)),
        "auprc_ci_low": auprc_low,
        "auprc_ci_high": auprc_high,
        "brier": brier,
        "scaled_brier": 1.0 - brier / max(prevalence * (1 - prevalence), _EPS),
        "calibration_slope": calibration_slope(y, risk),
        "calibration_slope_ci_low": slope_low,
        "calibration_slope_ci_high": slope_high,
        "calibration_intercept": calibration_intercept(y, risk),
    }


def net_benefit(y: np.ndarray, risk: np.ndarray, thresholds: np.ndarray) -> dict[str, list[float]]:
    """Decision curve: net benefit of treating patients above each threshold, against treat-all.

    NB(t) = TP/N - FP/N * t/(1-t); treat-none is 0 at every threshold.
    """
    n, prevalence = len(y), float(y.mean())
    model, treat_all = [], []
    for t in thresholds:
        treat = risk >= t
        odds = t / (1 - t)
        model.append(float((treat & (y == 1)).sum() / n - (treat & (y == 0)).sum() / n * odds))
        treat_all.append(prevalence - (1 - prevalence) * odds)
    return {"threshold": [float(t) for t in thresholds], "model": model, "treat_all": treat_all}
