"""PathTables reproduce XGBoost's own TreeSHAP (pred_contribs) and add up to the margin."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.bundle import Bundle
from kernel.calibration import SigmoidCalibrator
from serving.explain import explain, prepare_explainer
from serving.registry import served_model_from_bundle
from serving.treeshap import PathTables, UnsupportedBooster
from tests.serving.helpers import toy_artifact

TOLERANCE = 1e-5


def synthetic(n_rows: int, n_features: int, nan_rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_rows, n_features))
    X[:, 0] = rng.integers(0, 3, n_rows)  # ties at split points
    X[rng.random(X.shape) < nan_rate] = np.nan
    logit = np.nansum(X[:, :4] * np.array([1.0, -0.8, 0.6, 0.4])[:min(4, n_features)], axis=1)
    y = (logit + rng.normal(size=n_rows) > 0).astype(float)
    return X, y


def train(X: np.ndarray, y: np.ndarray, rounds: int, **params: object) -> xgb.Booster:
    base = {"objective": "binary:logistic", "tree_method": "hist", "nthread": 1, "eta": 0.3, "seed": 0,
            "min_child_weight": 0.5}
    return xgb.train({**base, **params}, xgb.DMatrix(X, label=y, missing=np.nan), rounds)


def reference(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    return booster.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True)


def probe_rows(booster: xgb.Booster, X: np.ndarray, seed: int) -> np.ndarray:
    """Held-out-like rows plus rows sitting exactly on split thresholds (the `<` boundary)."""
    frame = booster.trees_to_dataframe()
    splits = frame[frame.Feature != "Leaf"]
    rng = np.random.default_rng(seed)
    on_edge = X[rng.integers(0, len(X), 20)].copy()
    if len(splits):
        picks = splits.sample(20, replace=True, random_state=seed)
        features = picks.Feature.str.slice(1).astype(int).to_numpy()
        on_edge[np.arange(20), features] = picks.Split.to_numpy(dtype=np.float32)
    return np.vstack([X[:60], on_edge, np.full((1, X.shape[1]), np.nan)])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(depth=st.integers(1, 6), rounds=st.integers(1, 25), n_features=st.integers(1, 8),
       nan_rate=st.sampled_from([0.0, 0.1, 0.5]), monotone=st.booleans(), seed=st.integers(0, 10_000))
def test_equals_pred_contribs_on_random_models(depth: int, rounds: int, n_features: int, nan_rate: float,
                                               monotone: bool, seed: int) -> None:
    X, y = synthetic(400, n_features, nan_rate, seed)
    params: dict[str, object] = {"max_depth": depth}
    if monotone:
        params["monotone_constraints"] = str(tuple((1, -1, 0)[i % 3] for i in range(n_features)))
    booster = train(X, y, rounds, **params)
    rows = probe_rows(booster, X, seed)
    ours = PathTables.from_booster(booster).contributions(rows)
    np.testing.assert_allclose(ours, reference(booster, rows), rtol=0, atol=TOLERANCE)
    margin = booster.predict(xgb.DMatrix(rows, missing=np.nan), output_margin=True)
    np.testing.assert_allclose(ours.sum(axis=1), margin, rtol=0, atol=TOLERANCE)


def test_repeated_features_on_a_path_and_single_leaf_trees() -> None:
    """Two features, depth 6: paths split on the same feature again and again (XGBoost's unwind case)."""
    X, y = synthetic(600, 2, 0.2, seed=3)
    deep = train(X, y, 15, max_depth=6)
    np.testing.assert_allclose(PathTables.from_booster(deep).contributions(X), reference(deep, X), atol=TOLERANCE)
    constant = train(X, np.ones(len(X)), 3, max_depth=3, base_score=0.3)  # nothing to split: one leaf per tree
    ours = PathTables.from_booster(constant).contributions(X[:5])
    np.testing.assert_allclose(ours, reference(constant, X[:5]), atol=TOLERANCE)
    assert np.all(ours[:, :-1] == 0)


def test_regression_objective_and_custom_base_score() -> None:
    X, y = synthetic(500, 5, 0.1, seed=4)
    booster = train(X, y * 3.0 + 1.0, 20, objective="reg:squarederror", max_depth=4, base_score=0.7)
    np.testing.assert_allclose(PathTables.from_booster(booster).contributions(X[:50]), reference(booster, X[:50]),
                               atol=TOLERANCE)


@pytest.mark.slow
def test_reference_shape_400_trees_depth_6_60_features() -> None:
    """The issue's reference model shape; its tables must stay small enough to hold per served model."""
    X, y = synthetic(1000, 60, 0.1, seed=5)
    booster = train(X, y, 400, max_depth=6, eta=0.05, subsample=0.8, colsample_bytree=0.8)
    tables = PathTables.from_booster(booster)
    rows = X[:200]
    np.testing.assert_allclose(tables.contributions(rows), reference(booster, rows), rtol=0, atol=TOLERANCE)
    assert tables.nbytes < 64 * 2**20


def test_thread_pool_chunks_give_the_same_values() -> None:
    X, y = synthetic(500, 6, 0.2, seed=6)
    tables = PathTables.from_booster(train(X, y, 30, max_depth=4))
    with ThreadPoolExecutor(2) as pool:
        np.testing.assert_array_equal(tables.contributions(X, pool=pool, chunk_rows=64), tables.contributions(X))


def test_refuses_boosters_it_cannot_reproduce() -> None:
    X, y = synthetic(300, 4, 0.0, seed=7)
    dart = train(X, y, 3, booster="dart", max_depth=2)
    with pytest.raises(UnsupportedBooster, match="dart"):
        PathTables.from_booster(dart)
    multiclass = train(X, (y + (X[:, 1] > 0)).astype(int), 3, objective="multi:softprob", num_class=3)
    with pytest.raises(UnsupportedBooster, match="multi"):
        PathTables.from_booster(multiclass)
    poisson = train(X, y, 3, objective="count:poisson")
    with pytest.raises(UnsupportedBooster, match="objective"):
        PathTables.from_booster(poisson)
    with pytest.raises(UnsupportedBooster, match="memory"):
        PathTables.from_booster(train(X, y, 3, max_depth=3), max_bytes=64)


def test_refuses_categorical_splits() -> None:
    rng = np.random.default_rng(8)
    frame = {"c": rng.integers(0, 4, 300), "x": rng.normal(size=300)}
    data = pd.DataFrame(frame).astype({"c": "category"})
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1},
                        xgb.DMatrix(data, label=(frame["c"] == 2).astype(float), enable_categorical=True), 3)
    with pytest.raises(UnsupportedBooster, match="categorical"):
        PathTables.from_booster(booster)


def test_rejects_bad_rows_like_dmatrix_does() -> None:
    X, y = synthetic(200, 3, 0.0, seed=9)
    tables = PathTables.from_booster(train(X, y, 2, max_depth=2))
    with pytest.raises(ValueError, match="3 features"):
        tables.contributions(X[:, :2])
    with pytest.raises(ValueError, match="infinite"):
        tables.contributions(np.array([[np.inf, 0.0, 0.0]]))


def bundle_of(booster: xgb.Booster) -> Bundle:
    names = [f"x{j}" for j in range(booster.num_features())]
    return Bundle(booster=booster, calibrator=SigmoidCalibrator(1.0, 0.0),
                  spec=toy_artifact([{"name": n} for n in names]), digests={}, cards={})


def test_explain_uses_the_served_versions_tables_and_adds_up() -> None:
    X, y = synthetic(600, 6, 0.2, seed=10)
    booster = train(X, y, 40, max_depth=4, monotone_constraints="(1,-1,0,0,0,0)")
    bundle = bundle_of(booster)
    served = served_model_from_bundle("toy", "1", "champion", bundle)
    assert isinstance(served.explainer.tables, PathTables)  # built once, at load, and held by the version
    explained = explain(bundle, X, served.explainer)  # 600 rows: split across the batch pool
    expected = reference(booster, X)
    np.testing.assert_allclose(explained.contributions, expected[:, :-1], atol=TOLERANCE)
    np.testing.assert_allclose(explained.base_value, expected[:, -1], atol=TOLERANCE)
    margin = booster.predict(xgb.DMatrix(X, missing=np.nan), output_margin=True)
    np.testing.assert_allclose(explained.margin, margin, atol=TOLERANCE)
    np.testing.assert_allclose(explained.risk, 1 / (1 + np.exp(-explained.margin)))
    np.testing.assert_allclose(explain(bundle, X[:1]).contributions, explained.contributions[:1])  # built per call


def test_explain_falls_back_to_pred_contribs_for_unsupported_boosters() -> None:
    X, y = synthetic(300, 4, 0.1, seed=11)
    dart = train(X, y, 5, booster="dart", max_depth=3, rate_drop=0.1)
    explained = explain(bundle_of(dart), X[:20])
    assert prepare_explainer(dart) is None
    expected = dart.predict(xgb.DMatrix(X[:20], missing=np.nan), pred_contribs=True)
    np.testing.assert_array_equal(explained.contributions, expected[:, :-1].astype(np.float64))
