"""The same metrics within subgroups (sex, genetic ancestry, age band, ...), and the largest gap.

Health disparities are a stated concern of the field (TRIPOD+AI items 3c, 14, 23a): a model that is good
on average and poor for one group must say so. Groups too small to estimate an AUROC are reported with
their size and no metrics rather than dropped.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from training.evaluate import evaluate_risk

MIN_EVENTS = 10


def subgroup_metrics(y: np.ndarray, risk: np.ndarray, cohort: pd.DataFrame, columns: list[str],
                     seed: int, n_boot: int = 100) -> list[dict[str, Any]]:
    rows = []
    for column in columns:
        if column not in cohort.columns:
            continue
        for level in sorted(cohort[column].dropna().astype(str).unique()):
            mask = (cohort[column].astype(str) == level).to_numpy()
            events = int(y[mask].sum())
            row: dict[str, Any] = {"group": column, "level": level, "n": int(mask.sum()), "events": events}
            if events >= MIN_EVENTS and mask.sum() - events >= MIN_EVENTS:
                metrics = evaluate_risk(y[mask], risk[mask], seed, n_boot)
                row.update({k: metrics[k] for k in ("auroc", "auroc_ci_low", "auroc_ci_high", "brier",
                                                    "calibration_slope", "calibration_intercept", "mean_risk",
                                                    "event_rate")})
            rows.append(row)
    return rows


def largest_gaps(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per grouping, the best and worst AUROC levels and the gap between them."""
    gaps = {}
    for group in sorted({r["group"] for r in rows}):
        scored = [r for r in rows if r["group"] == group and "auroc" in r]
        if len(scored) < 2:
            continue
        worst, best = min(scored, key=lambda r: r["auroc"]), max(scored, key=lambda r: r["auroc"])
        gaps[group] = {"worst": worst["level"], "worst_auroc": worst["auroc"], "best": best["level"],
                       "best_auroc": best["auroc"], "gap": best["auroc"] - worst["auroc"]}
    return gaps


def worst_subgroup_auroc(rows: list[dict[str, Any]]) -> float:
    scored = [r["auroc"] for r in rows if "auroc" in r]
    return float(min(scored)) if scored else float("nan")
