"""Exact TreeSHAP for XGBoost boosters from per-leaf tables built once per model (Fast TreeSHAP v2 style).

Why: ``pred_contribs`` reruns the recursive TreeSHAP walk (O(leaves x depth^2) per tree) for every row.
But a leaf's contribution to each feature on its root-to-leaf path depends only on the path's cover ratios
r_j (the share of training cover that follows the path at the nodes splitting on feature j) and on which
of its d unique features the row follows (s_j in {0, 1}). So all 2^d answers per leaf are tabulated when
the model loads; a row then costs one comparison per split node, one table lookup per leaf and a
scatter-add. Values are those of XGBoost's path-dependent TreeSHAP (same covers, same ``x < threshold``
test on float32 inputs, same default direction for NaN), bias column included.

Boosters this module cannot reproduce exactly (dart, multi-output, categorical splits, unknown objective,
tables over the memory budget) raise ``UnsupportedBooster`` so the caller can fall back to
``pred_contribs``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import xgboost as xgb

# base_score is stored on the prediction scale; the margin intercept is its inverse link
_INVERSE_LINK: dict[str, Callable[[float], float]] = {
    "binary:logistic": lambda p: math.log(p / (1.0 - p)),
    "reg:logistic": lambda p: math.log(p / (1.0 - p)),
    "binary:logitraw": lambda p: math.log(p / (1.0 - p)),
    "reg:squarederror": lambda p: p,
    "survival:cox": math.log,  # margins are log hazard ratios; predict() is exp(margin)
}
MAX_TABLE_BYTES = 512 * 2**20
MAX_UNIQUE_PER_PATH = 12
TABLE_DTYPE = np.float64  # float32 sums drift past 1e-5 over a few thousand leaves per feature
BLOCK_ROWS = 16  # rows per vectorised block: keeps the (rows, leaves, depth) gather in cache-sized pieces


class UnsupportedBooster(ValueError):
    """The booster uses a feature these tables do not reproduce exactly; use ``pred_contribs`` instead."""


@dataclass(frozen=True)
class _Leaf:
    value: float
    nodes: list[int]  # global split-node ids on the root-to-leaf path
    went_left: list[bool]
    positions: list[int]  # index of each path node's feature among the path's unique features
    features: list[int]  # unique features, first appearance first
    ratios: list[float]  # product of child/parent cover per unique feature


@dataclass(frozen=True)
class PathTables:
    """Everything a row needs to get its exact SHAP values; immutable and safe to share across threads."""

    n_features: int
    bias: float  # intercept margin + expected value of every tree (pred_contribs' last column)
    node_feature: np.ndarray  # (N,) split feature of every split node of every tree
    node_threshold: np.ndarray  # (N,) float32, go left when x < threshold
    node_default_left: np.ndarray  # (N,) bool, direction of a missing value
    # path steps, step-major: step k of the first steps_used[k] leaves (leaves sorted longest path first)
    step_node: np.ndarray  # (E,) split node of the step
    step_left: np.ndarray  # (E,) the path goes left there
    step_bit: np.ndarray  # (E,) 1 << (index of the node's feature among the leaf's unique features)
    steps_used: np.ndarray  # (D,) number of leaves whose path has more than k steps
    leaf_offset: np.ndarray  # (L,) first table row of each leaf; row = offset + mismatch pattern
    table: np.ndarray  # (R, U) contribution to the leaf's u-th unique feature; row = leaf offset + pattern
    scatter: sp.csr_matrix  # (p + 1, L * U) sums each (leaf, position) into its feature column

    @property
    def nbytes(self) -> int:
        arrays = (self.table, self.scatter.data, self.scatter.indices, self.step_node, self.leaf_offset)
        return int(sum(a.nbytes for a in arrays))

    @classmethod
    def from_booster(cls, booster: xgb.Booster, max_bytes: int = MAX_TABLE_BYTES) -> PathTables:
        model = json.loads(booster.save_raw("json"))
        n_features, intercept, trees = _read_model(model)
        leaves, nodes = _collect_leaves(trees)
        return _build(leaves, nodes, n_features, intercept, max_bytes)

    def contributions(self, X: np.ndarray, pool: Executor | None = None, chunk_rows: int = 64) -> np.ndarray:
        """SHAP values (n, p + 1), last column the bias, laid out as ``pred_contribs``.

        With ``pool``, a batch of more than ``chunk_rows`` rows is split into chunks run on its threads
        (numpy and scipy release the GIL in the heavy loops); smaller requests run inline and never queue.
        """
        X32 = _as_float32(X, self.n_features)
        out = np.empty((X32.shape[0], self.n_features + 1), dtype=np.float64)
        if pool is None or X32.shape[0] <= chunk_rows:
            self._fill(X32, out)
            return out
        starts = range(0, X32.shape[0], chunk_rows)
        for done in [pool.submit(self._fill, X32[s:s + chunk_rows], out[s:s + chunk_rows]) for s in starts]:
            done.result()
        return out

    def _fill(self, X32: np.ndarray, out: np.ndarray) -> None:
        for start in range(0, X32.shape[0], BLOCK_ROWS):
            block = X32[start:start + BLOCK_ROWS]
            patterns = self._mismatch_patterns(self._went_left(block))
            out[start:start + len(block)] = self._scatter_add(self._lookup(patterns))
            out[start:start + len(block), -1] += self.bias

    def _went_left(self, X32: np.ndarray) -> np.ndarray:
        """(n, N): the direction each row takes at every split node (NaN takes the default)."""
        x = np.take(X32, self.node_feature, axis=1)
        left = x < self.node_threshold
        left |= np.isnan(x) & self.node_default_left
        return left

    def _mismatch_patterns(self, left: np.ndarray) -> np.ndarray:
        """(n, L): bit u is set when the row leaves the leaf's path at its u-th unique feature."""
        if not len(self.steps_used):  # every tree is a single leaf
            return np.zeros((left.shape[0], len(self.leaf_offset)), dtype=self.step_bit.dtype)
        steps = np.take(left, self.step_node, axis=1)  # (n, E) direction taken at every path step
        bits = (steps ^ self.step_left) * self.step_bit  # the step's bit where the row leaves the path
        patterns = bits[:, :self.steps_used[0]].copy()
        start = self.steps_used[0]
        for used in self.steps_used[1:]:
            patterns[:, :used] |= bits[:, start:start + used]
            start += used
        return patterns

    def _lookup(self, patterns: np.ndarray) -> np.ndarray:
        """(n, L * U): each leaf's contributions for each row's pattern (one contiguous table row per leaf)."""
        return np.take(self.table, self.leaf_offset + patterns, axis=0).reshape(len(patterns), -1)

    def _scatter_add(self, values: np.ndarray) -> np.ndarray:
        """(n, p + 1): the contributions summed per feature, row by row (no transposed copy of values)."""
        return np.stack([self.scatter @ row for row in values])


def _as_float32(X: np.ndarray, n_features: int) -> np.ndarray:
    """DMatrix compares float32 values; do the same, and refuse what DMatrix would refuse."""
    with np.errstate(over="ignore"):
        X32 = np.asarray(X, dtype=np.float32)
    if X32.ndim != 2 or X32.shape[1] != n_features:
        raise ValueError(f"expected rows of {n_features} features, got shape {X32.shape}")
    if np.isinf(X32).any():
        raise ValueError("input contains infinite values or values too large for float32 (NaN = missing)")
    return X32


def _read_model(model: dict[str, Any]) -> tuple[int, float, list[dict[str, Any]]]:
    learner = model["learner"]
    params = learner["learner_model_param"]
    booster = learner["gradient_booster"]
    objective = learner["objective"]["name"]
    if booster["name"] != "gbtree":
        raise UnsupportedBooster(f"booster type {booster['name']!r} (only gbtree)")
    if int(params.get("num_target", "1")) != 1 or int(params.get("num_class", "0")) > 1:
        raise UnsupportedBooster("multi-output or multi-class models")
    if objective not in _INVERSE_LINK:
        raise UnsupportedBooster(f"objective {objective!r}")
    trees = booster["model"]["trees"]
    if any(int(t["tree_param"].get("size_leaf_vector", "1")) > 1 or any(t["split_type"]) for t in trees):
        raise UnsupportedBooster("vector-leaf trees or categorical splits")
    base_score = float(params["base_score"].strip("[]"))
    return int(params["num_feature"]), float(_INVERSE_LINK[objective](base_score)), trees


def _collect_leaves(trees: list[dict[str, Any]]) -> tuple[list[_Leaf], dict[str, np.ndarray]]:
    """Walk every tree once; split nodes get global ids, each leaf keeps its path."""
    leaves: list[_Leaf] = []
    feature: list[int] = []
    threshold: list[float] = []
    default_left: list[bool] = []
    for tree in trees:
        left, right = tree["left_children"], tree["right_children"]
        cover, cond, split = tree["sum_hessian"], tree["split_conditions"], tree["split_indices"]
        stack: list[tuple[int, list[tuple[int, int, bool, float]]]] = [(0, [])]
        while stack:
            node, path = stack.pop()
            if left[node] == -1:
                leaves.append(_leaf(float(np.float32(cond[node])), path))
                continue
            gid = len(feature)
            feature.append(split[node])
            threshold.append(cond[node])
            default_left.append(bool(tree["default_left"][node]))
            for child, is_left in ((left[node], True), (right[node], False)):
                ratio = cover[child] / cover[node] if cover[node] > 0 else 0.0
                stack.append((child, [*path, (gid, split[node], is_left, ratio)]))
    nodes: dict[str, np.ndarray] = {"feature": np.array(feature, dtype=np.intp),
                                    "threshold": np.array(threshold, dtype=np.float32),
                                    "default_left": np.array(default_left, dtype=bool)}
    return leaves, nodes


def _leaf(value: float, path: list[tuple[int, int, bool, float]]) -> _Leaf:
    features: list[int] = []
    ratios: list[float] = []
    positions: list[int] = []
    for _, feat, _, ratio in path:
        if feat not in features:
            features.append(feat)
            ratios.append(1.0)
        pos = features.index(feat)
        ratios[pos] *= ratio
        positions.append(pos)
    return _Leaf(value=value, nodes=[p[0] for p in path], went_left=[p[2] for p in path],
                 positions=positions, features=features, ratios=ratios)


def _build(leaves: list[_Leaf], nodes: dict[str, np.ndarray], n_features: int, intercept: float,
           max_bytes: int) -> PathTables:
    leaves = sorted(leaves, key=lambda leaf: -len(leaf.nodes))
    lengths = np.array([len(leaf.nodes) for leaf in leaves], dtype=np.intp)
    n_unique = np.array([len(leaf.features) for leaf in leaves], dtype=np.intp)
    unique, depth = max(int(n_unique.max(initial=0)), 1), int(lengths.max(initial=0))
    sizes = 2 ** n_unique
    if unique > MAX_UNIQUE_PER_PATH or int(sizes.sum()) * unique * TABLE_DTYPE().itemsize > max_bytes:
        raise UnsupportedBooster(f"tables for paths with {unique} unique features exceed the memory budget")
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.intp)
    table, expected = _tables(leaves, n_unique, offsets, int(sizes.sum()), unique)
    step_mask = (np.arange(depth)[:, None] < lengths[None, :])  # (D, L), step-major

    def steps(attribute: str) -> np.ndarray:
        return _padded([getattr(leaf, attribute) for leaf in leaves], depth).T[step_mask]

    return PathTables(
        n_features=n_features, bias=intercept + expected, node_feature=nodes["feature"],
        node_threshold=nodes["threshold"], node_default_left=nodes["default_left"],
        step_node=steps("nodes").astype(np.intp), step_left=steps("went_left").astype(bool),
        step_bit=(1 << steps("positions").astype(np.intp)).astype(np.uint8 if unique <= 8 else np.uint16),
        steps_used=step_mask.sum(axis=1), leaf_offset=offsets, table=table,
        scatter=_scatter(leaves, n_unique, unique, n_features))


def _padded(rows: Sequence[Sequence[float]], width: int) -> np.ndarray:
    out = np.zeros((len(rows), width), dtype=np.float64)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


def _tables(leaves: list[_Leaf], n_unique: np.ndarray, offsets: np.ndarray, n_rows: int,
            unique: int) -> tuple[np.ndarray, float]:
    """All leaves' pattern tables stacked (one row per leaf and pattern), and the trees' expected value."""
    table = np.zeros((n_rows, unique), dtype=TABLE_DTYPE)
    values = np.array([leaf.value for leaf in leaves])
    ratios = _padded([leaf.ratios for leaf in leaves], unique)
    expected = 0.0
    for d in np.unique(n_unique):
        group = np.flatnonzero(n_unique == d)
        expected += float(np.sum(values[group] * np.prod(ratios[group, :d], axis=1)))
        rows = offsets[group][:, None] + np.arange(2 ** d)[None, :]
        table[rows, :d] = _leaf_tables(values[group], ratios[group, :d])
    return table, expected


def _scatter(leaves: list[_Leaf], n_unique: np.ndarray, unique: int, n_features: int) -> sp.csr_matrix:
    """0/1 matrix adding looked-up value (leaf, u) into the column of the leaf's u-th unique feature."""
    used = np.arange(unique)[None, :] < n_unique[:, None]  # (L, U)
    feature = _padded([leaf.features for leaf in leaves], unique)[used].astype(np.intp)
    column = np.flatnonzero(used.ravel())
    return sp.csr_matrix((np.ones(len(column), dtype=TABLE_DTYPE), (feature, column)),
                         shape=(n_features + 1, len(leaves) * unique))


def _leaf_tables(values: np.ndarray, ratios: np.ndarray) -> np.ndarray:
    """Shapley values of G leaves with d unique features each, for every mismatch pattern m: (G, 2^d, d).

    The row follows feature j (s_j = 1) unless bit j of m is set. A coalition S is worth
    v * prod_{j in S} s_j * prod_{j not in S} r_j, so feature i gets
    v (s_i - r_i) sum_{S subset of on(m) without i} w_|S| A(S + i), with A(T) = prod_{j not in T} r_j and
    w_k = k! (d - k - 1)! / d!: one matrix product per feature over all subsets.
    """
    n_leaves, d = ratios.shape
    if d == 0:
        return np.zeros((n_leaves, 1, 0))
    subsets = np.arange(2 ** d)
    bits = (subsets[:, None] >> np.arange(d)[None, :]) & 1  # (2^d, d)
    absent = np.ones((n_leaves, 2 ** d))
    for j in range(d):
        absent *= np.where(bits[None, :, j] == 1, 1.0, ratios[:, j, None])  # A(S) for every subset S
    size = bits.sum(axis=1)
    weight = np.array([math.factorial(k) * math.factorial(d - k - 1) / math.factorial(d) for k in range(d)])
    on = (2 ** d - 1) ^ subsets  # features the row follows, per mismatch pattern
    out = np.empty((n_leaves, 2 ** d, d))
    for i in range(d):
        allowed = ((subsets[None, :] & ~on[:, None]) == 0) & (bits[None, :, i] == 0)  # (pattern, S)
        weights = np.where(allowed, weight[np.minimum(size, d - 1)][None, :], 0.0)
        summed = absent[:, subsets | (1 << i)] @ weights.T  # (G, pattern)
        out[:, :, i] = values[:, None] * summed * ((1 - bits[None, :, i]) - ratios[:, i, None])
    return out
