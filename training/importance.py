"""Global explanation: mean |exact TreeSHAP| per feature and per clinical concept on held-out patients."""

from __future__ import annotations

import numpy as np
import xgboost as xgb

from features.cohorts import DEFINITIONS as REGISTRY  # every registry and cohort feature


def mean_abs_shap(booster: xgb.Booster, X: np.ndarray, names: list[str]) -> dict[str, dict[str, float]]:
    """{"feature": {name: value}, "concept": {concept: value}}, each sorted largest first (log-odds)."""
    contribs = booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True)[:, :-1]
    per_feature = dict(zip(names, np.abs(contribs).mean(axis=0).astype(float), strict=True))
    signed: dict[str, np.ndarray] = {}
    for j, name in enumerate(names):  # a concept sums its features' signed contributions per patient first
        concept = REGISTRY[name].concept if name in REGISTRY else name
        signed[concept] = signed.get(concept, np.zeros(len(X))) + contribs[:, j]
    per_concept = {c: float(np.abs(v).mean()) for c, v in signed.items()}
    return {"feature": _sorted(per_feature), "concept": _sorted(per_concept)}


def _sorted(values: dict[str, float]) -> dict[str, float]:
    return dict(sorted(values.items(), key=lambda kv: kv[1], reverse=True))
