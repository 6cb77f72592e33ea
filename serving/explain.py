"""Calibrated risks with exact TreeSHAP explanations, straight from the booster.

The values are XGBoost's own path-dependent TreeSHAP (``pred_contribs=True``): one contribution per
feature plus a bias column, adding up to the raw margin (log-odds before calibration). Nothing is sampled
or approximated, and nothing but the booster is needed, so no explainer object is ever deserialised.

They are computed from per-leaf tables (``serving.treeshap.PathTables``) built once per served version (an
``Explainer``, held by its ``ServedModel`` and swapped with it) and checked against ``pred_contribs`` on
probe rows when built; a booster the tables cannot reproduce falls
back to ``pred_contribs``. A single patient is explained on the request's own thread; a large batch is
split across a small shared pool (one thread per core), so batches use every core while a one-patient
request never waits in a queue behind them.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache

import numpy as np
import xgboost as xgb

from kernel.bundle import Bundle
from serving.treeshap import PathTables, UnsupportedBooster

SCALE = "log-odds (model margin before calibration)"
MIN_CHUNK_ROWS = 32  # below this a batch is not worth handing to other threads
PROBE_TOLERANCE = 1e-5

log = logging.getLogger("pmed.serving")
_pool_lock = threading.Lock()


@dataclass(frozen=True)
class Explained:
    risk: np.ndarray  # (n,) calibrated probability
    margin: np.ndarray  # (n,) raw log-odds
    base_value: np.ndarray  # (n,) expected margin (TreeSHAP bias term)
    contributions: np.ndarray  # (n, p) log-odds contribution of each feature


@dataclass(frozen=True)
class Explainer:
    """A booster's verified path tables; ``tables is None`` means use ``pred_contribs`` (tables unsupported)."""

    tables: PathTables | None

    @classmethod
    def of(cls, booster: xgb.Booster) -> Explainer:
        """Build and verify the tables: about a second for 400 depth-6 trees, so it is done at load."""
        return cls(tables=prepare_explainer(booster))


def explain(bundle: Bundle, X: np.ndarray, explainer: Explainer | None = None) -> Explained:
    """Predict and explain rows of X (features in model order, NaN = missing).

    ``explainer`` is the served version's, built at load; without one (tests, notebooks) it is built for
    this call.
    """
    explainer = explainer or Explainer.of(bundle.booster)
    contribs = shap_values(bundle.booster, X, explainer.tables)
    margin = contribs.sum(axis=1, dtype=np.float64)
    return Explained(risk=bundle.calibrator.predict(margin), margin=margin,
                     base_value=contribs[:, -1].astype(np.float64),
                     contributions=contribs[:, :-1].astype(np.float64))


def shap_values(booster: xgb.Booster, X: np.ndarray, tables: PathTables | None) -> np.ndarray:
    """Exact TreeSHAP values (n, p + 1), bias last, equal to ``pred_contribs`` within 1e-5 (``tables``:
    ``prepare_explainer(booster)``; None uses ``pred_contribs``)."""
    if tables is None:
        return booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True)
    workers = _cores()
    if len(X) < 2 * MIN_CHUNK_ROWS or workers == 1:
        return tables.contributions(X)
    return tables.contributions(X, pool=_batch_pool(), chunk_rows=max(MIN_CHUNK_ROWS, math.ceil(len(X) / workers)))


def prepare_explainer(booster: xgb.Booster) -> PathTables | None:
    """Build and verify the tables; ``None`` means use ``pred_contribs`` (the booster is not supported,
    or the tables do not reproduce it on probe rows)."""
    try:
        tables = PathTables.from_booster(booster)
    except UnsupportedBooster as exc:
        log.warning("explanations use pred_contribs: %s", exc)
        return None
    probe = _probe_rows(tables)
    expected = booster.predict(xgb.DMatrix(probe, missing=np.nan), pred_contribs=True)
    gap = float(np.max(np.abs(tables.contributions(probe) - expected)))
    if not gap <= PROBE_TOLERANCE:
        log.warning("explanations use pred_contribs: path tables differ by %.2g on probe rows", gap)
        return None
    return tables


def _probe_rows(tables: PathTables, n: int = 16) -> np.ndarray:
    """Synthetic rows (no patient data) on and around split thresholds, with missing values."""
    rng = np.random.default_rng(0)
    rows = np.full((n, tables.n_features), np.nan, dtype=np.float32)
    for feature in np.unique(tables.node_feature):
        thresholds = tables.node_threshold[tables.node_feature == feature]
        picked = rng.choice(thresholds, size=n) + rng.choice([-1e-3, 0.0, 0.0, 1e-3], size=n)
        rows[1:, feature] = np.where(rng.random(n) < 0.2, np.nan, picked)[1:]  # row 0 stays all-missing
    return rows


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _batch_pool() -> ThreadPoolExecutor:
    """The shared pool, created on the first large batch, so importing starts no threads."""
    with _pool_lock:  # the cache alone could build two pools when two first batches race
        return _shared_pool()


@cache
def _shared_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=_cores(), thread_name_prefix="pmed-shap")
