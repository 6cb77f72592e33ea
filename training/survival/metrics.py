"""Held-out survival metrics, from ``sksurv.metrics`` (not re-derived here), and the Kaplan-Meier risk at a time.

Every censoring-weighted metric estimates the censoring distribution on a reference (``y_train``; the
evaluation passes every patient's follow-up, so no test time lies beyond it, which scikit-survival refuses).
Uno's C is truncated at the horizon (``tau``), where the censoring weights are still estimable. The integrated
Brier score runs over a grid from the 10th percentile of the test times to the horizon (capped below the last
test time, which ``brier_score`` requires).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sksurv.metrics import (
    brier_score,
    concordance_index_censored,
    concordance_index_ipcw,
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.nonparametric import kaplan_meier_estimator

# a model's predictions for held-out patients: log-hazard score, and survival at each time of a grid
Scores = np.ndarray
SurvivalAt = Callable[[np.ndarray], np.ndarray]  # times (k,) -> S(t | x) for every patient, shape (n, k)


def km_risk(y: np.ndarray, t: float) -> float:
    """Kaplan-Meier estimate of P(event by t) among these patients (censoring accounted for)."""
    times, survival = kaplan_meier_estimator(y["event"], y["time"])
    upto = survival[times <= t]
    return float(1.0 - upto[-1]) if len(upto) else 0.0


def harrell_c(y: np.ndarray, score: Scores) -> float:
    return float(concordance_index_censored(y["event"], y["time"], score)[0])


def uno_c(y_train: np.ndarray, y: np.ndarray, score: Scores, tau: float) -> float:
    return float(concordance_index_ipcw(y_train, y, score, tau=tau)[0])


def auroc_at(y_train: np.ndarray, y: np.ndarray, risk: np.ndarray, t: float) -> float:
    """Cumulative/dynamic AUC at t: patients with an event by t against those event-free beyond it (IPCW)."""
    return float(cumulative_dynamic_auc(y_train, y, risk, [t])[0][0])


def brier_at(y_train: np.ndarray, y: np.ndarray, survival_at_t: np.ndarray, t: float) -> float:
    return float(brier_score(y_train, y, survival_at_t.reshape(-1, 1), [t])[1][0])


def brier_grid(y: np.ndarray, horizon: float, points: int = 20) -> np.ndarray:
    """The integrated Brier score's times: from the test times' 10th percentile to the horizon."""
    low = float(np.quantile(y["time"], 0.1))
    high = min(horizon, float(np.nextafter(y["time"].max(), 0)))
    return np.unique(np.linspace(min(low, high), high, points))


def integrated_brier(y_train: np.ndarray, y: np.ndarray, survival: SurvivalAt, grid: np.ndarray) -> float:
    if len(grid) < 2:
        return float("nan")
    return float(integrated_brier_score(y_train, y, survival(grid), grid))


def observed_expected(y: np.ndarray, risk: np.ndarray, t: float) -> float:
    """Kaplan-Meier observed risk at t over the mean predicted risk at t (1 is ideal; above 1: under-predicted)."""
    mean = float(np.mean(risk))
    return km_risk(y, t) / mean if mean > 0 else float("nan")


def bootstrap_ci(statistic: Callable[[np.ndarray], float], n: int, samples: int, seed: int
                 ) -> tuple[float, float]:
    """Percentile 95% CI of ``statistic(rows)`` over resampled row positions; failed resamples are skipped
    (a resample with no comparable pair, say)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(samples):
        try:
            value = statistic(rng.integers(0, n, n))
        except ValueError:
            continue
        if np.isfinite(value):
            values.append(value)
    if not values:
        return float("nan"), float("nan")
    low, high = np.quantile(values, [0.025, 0.975])
    return float(low), float(high)


def risk_groups(y: np.ndarray, risk: np.ndarray, t: float, groups: int) -> list[dict[str, float]]:
    """Per group of predicted risk (quantiles), the mean predicted and the Kaplan-Meier observed risk at t."""
    edges = np.unique(np.quantile(risk, np.linspace(0, 1, groups + 1)))
    which = np.clip(np.searchsorted(edges, risk, side="right") - 1, 0, max(len(edges) - 2, 0))
    rows = []
    for g in np.unique(which):
        member = which == g
        rows.append({"group": int(g) + 1, "n": int(member.sum()), "predicted": float(risk[member].mean()),
                     "observed_km": km_risk(y[member], t)})
    return rows
