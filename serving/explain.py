"""Calibrated risks with exact TreeSHAP explanations, straight from the booster.

XGBoost's ``pred_contribs=True`` runs exact TreeSHAP on the booster in C++: one contribution per feature
plus a bias column, adding up to the raw margin (log-odds before calibration). Nothing is sampled or
approximated, and nothing but the booster is needed, so no explainer object is ever deserialised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from pmed.bundle import Bundle

SCALE = "log-odds (model margin before calibration)"


@dataclass(frozen=True)
class Explained:
    risk: np.ndarray  # (n,) calibrated probability
    margin: np.ndarray  # (n,) raw log-odds
    base_value: np.ndarray  # (n,) expected margin (TreeSHAP bias term)
    contributions: np.ndarray  # (n, p) log-odds contribution of each feature


def explain(bundle: Bundle, X: np.ndarray) -> Explained:
    """Predict and explain rows of X (features in model order, NaN = missing)."""
    contribs = bundle.booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True)
    margin = contribs.sum(axis=1, dtype=np.float64)
    return Explained(risk=bundle.calibrator.predict(margin), margin=margin,
                     base_value=contribs[:, -1].astype(np.float64),
                     contributions=contribs[:, :-1].astype(np.float64))
