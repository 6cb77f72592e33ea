"""Dose accuracy as plain data: MAE (mg/week), PW20, R^2 and interval coverage, with bootstrap CIs.

PW20 is the share of patients whose predicted dose lies within 20% of the actual stable dose (IWPC's
"ideal dose"); the IWPC paper counts |predicted - actual| <= 0.2 * actual, and so do we.
"""

from __future__ import annotations

import numpy as np

HEADLINE = ("mae", "pw20", "r2")


def mae(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.abs(pred - y)))


def pw20(y: np.ndarray, pred: np.ndarray) -> float:
    return float(100.0 * np.mean(np.abs(pred - y) <= 0.2 * y))


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    spread = float(np.sum((y - y.mean()) ** 2))
    return float(1.0 - np.sum((y - pred) ** 2) / spread) if spread > 0 else float("nan")


METRICS = {"mae": mae, "pw20": pw20, "r2": r2}


def evaluate_dose(y: np.ndarray, pred: np.ndarray, seed: int, n_boot: int = 200) -> dict[str, float]:
    """Headline metrics with percentile 95% CIs over patient resamples (the same resamples for all three)."""
    out: dict[str, float] = {"n": float(len(y)), "mean_dose": float(y.mean()) if len(y) else float("nan")}
    if not len(y):
        return out
    rng = np.random.default_rng(seed)
    draws = [rng.integers(0, len(y), len(y)) for _ in range(n_boot)]
    for name, metric in METRICS.items():
        out[name] = metric(y, pred)
        values = [metric(y[idx], pred[idx]) for idx in draws] if len(y) > 1 else [out[name]]
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = (float(v) for v in np.nanpercentile(values, [2.5, 97.5]))
    return out


def interval_metrics(y: np.ndarray, low: np.ndarray, high: np.ndarray) -> dict[str, float]:
    """Empirical coverage of the prediction interval and its median width (mg/week)."""
    return {"interval_coverage": float(np.mean((y >= low) & (y <= high))),
            "interval_median_width": float(np.median(high - low))}


def paired_difference(y: np.ndarray, pred: np.ndarray, other: np.ndarray, seed: int,
                      n_boot: int = 200) -> dict[str, float]:
    """Model minus baseline on the same patients (MAE and PW20) with paired bootstrap 95% CIs."""
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    for name in ("mae", "pw20"):
        metric = METRICS[name]
        values = []
        for _ in range(n_boot):
            idx = rng.integers(0, len(y), len(y))
            values.append(metric(y[idx], pred[idx]) - metric(y[idx], other[idx]))
        out[f"{name}_diff"] = metric(y, pred) - metric(y, other)
        out[f"{name}_diff_ci_low"], out[f"{name}_diff_ci_high"] = (float(v) for v in np.percentile(values, [2.5, 97.5]))
    return out
