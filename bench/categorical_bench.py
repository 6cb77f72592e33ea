"""XGBoost's native categorical splits against one-hot dummies (and plain level codes) on real and simulated tables.

Usage:
    .venv/bin/python bench/categorical_bench.py [--repeats 3] [--folds 5] [--sim-patients 3000]

Each encoding sees the same patients, folds and booster settings (depth 3, eta 0.05, 300 rounds, seeded):
- ``native``: the level index with ``feature_types`` "c" (``enable_categorical``; partition splits).
- ``one_hot``: one 0/1 column per level (the categorical's contribution is the sum of its dummies').
- ``codes``: the level index as a number (ordinary ``x < threshold`` splits on the index).

Tables: scikit-survival's veterans lung cancer (Celltype, 4 levels; 137 patients) and the HIV trial
(``load_aids``: raceth 5 levels, txgrp 4, ivdrug 3; 1,151 patients), fitted with ``survival:cox``; a
simulated binary outcome with a 8-level categorical whose per-level log-odds effects are known (so the
oracle AUROC is known), and one with 20 levels of random effects. Discrimination: Harrell's C (survival) or
AUROC (binary) on held-out folds; calibration: the Cox (survival) or logistic (binary) slope of the held-out
margin (1 = well spread) and, for binary, the Brier score; fit time: seconds per fit (2 shared cores, so read
ratios, not absolutes). Printed as a table of mean (min-max over folds x repeats). The figures kept in
docs/own-cohort.md come from this script.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score
from sklearn.model_selection import RepeatedStratifiedKFold
from sksurv.datasets import load_aids, load_veterans_lung_cancer
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.util import Surv

ENCODINGS = ("native", "one_hot", "codes")


@dataclass(frozen=True)
class Table:
    name: str
    frame: pd.DataFrame  # numeric columns as floats, categoricals as level indices (NaN = missing)
    categorical: list[str]
    levels: dict[str, int]
    y: np.ndarray  # binary outcome or event flag
    time: np.ndarray | None  # follow-up (survival) or None (binary)
    oracle_auroc: float | None = None


def _coded(frame: pd.DataFrame, categorical: list[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    out = frame.copy()
    levels = {}
    for column in out.columns:
        if column in categorical:
            out[column] = out[column].cat.codes.replace(-1, np.nan).astype(float)
            levels[column] = len(frame[column].cat.categories)
        else:
            out[column] = pd.to_numeric(out[column].astype(str) if str(out[column].dtype) == "category"
                                        else out[column], errors="coerce").astype(float)
    return out, levels


def veterans() -> Table:
    X, y = load_veterans_lung_cancer()
    X = X.assign(Prior_therapy=(X["Prior_therapy"] == "yes").astype(float),
                 Treatment=(X["Treatment"] == "test").astype(float))
    frame, levels = _coded(X, ["Celltype"])
    return Table("veterans (Celltype, 4 levels)", frame, ["Celltype"], levels, y["Status"].astype(int),
                 y["Survival_in_days"].astype(float))


def aids() -> Table:
    X, y = load_aids("aids")
    categorical = ["raceth", "txgrp", "ivdrug"]
    frame, levels = _coded(X, categorical)
    return Table("HIV trial (raceth 5, txgrp 4, ivdrug 3)", frame, categorical, levels,
                 y["censor"].astype(int), y["time"].astype(float))


def simulated(n: int, n_levels: int = 8, seed: int = 7) -> Table:
    rng = np.random.default_rng(seed)
    effect = np.array([0.0, 1.2, -0.8, 0.4, 1.8, -1.5, 0.1, 0.9])  # log-odds per level, not ordered
    if n_levels != len(effect):
        effect = rng.normal(0, 1.0, n_levels)
    level = rng.integers(0, len(effect), n)
    x1, x2, x3 = rng.normal(size=(3, n))
    margin = -1.0 + effect[level] + 0.8 * x1 - 0.5 * x2 + 0.3 * x3 * x1
    p = 1 / (1 + np.exp(-margin))
    y = (rng.random(n) < p).astype(int)
    frame = pd.DataFrame({"group": level.astype(float), "x1": x1, "x2": x2, "x3": x3})
    return Table(f"simulated ({n_levels} levels, known effects; {n} patients)", frame, ["group"],
                 {"group": len(effect)}, y, None, oracle_auroc=float(roc_auc_score(y, p)))


def design(table: Table, encoding: str) -> tuple[np.ndarray, list[str] | None]:
    """The matrix one encoding trains on, and its feature types (None = all numeric)."""
    if encoding == "one_hot":
        parts = []
        for column in table.frame.columns:
            values = table.frame[column].to_numpy()
            if column in table.categorical:
                dummies = np.stack([(values == k).astype(float) for k in range(table.levels[column])], axis=1)
                dummies[np.isnan(values)] = np.nan
                parts.append(dummies)
            else:
                parts.append(values[:, None])
        return np.hstack(parts), None
    X = table.frame.to_numpy(dtype=float)
    if encoding == "native":
        return X, ["c" if c in table.categorical else "q" for c in table.frame.columns]
    return X, None


def fit(X: np.ndarray, label: np.ndarray, types: list[str] | None, objective: str) -> tuple[xgb.Booster, float]:
    params = {"objective": objective, "max_depth": 3, "eta": 0.05, "subsample": 0.8, "colsample_bytree": 0.8,
              "min_child_weight": 5, "seed": 42, "nthread": 2, "tree_method": "hist", "max_cat_to_onehot": 1}
    dtrain = xgb.DMatrix(X, label=label, missing=np.nan, feature_types=types, enable_categorical=types is not None)
    start = time.perf_counter()
    booster = xgb.train(params, dtrain, num_boost_round=300)
    return booster, time.perf_counter() - start


def margin_of(booster: xgb.Booster, X: np.ndarray) -> np.ndarray:
    """Plain numeric DMatrix, as pmed serves: the booster's categorical splits still apply to level indices."""
    return np.asarray(booster.predict(xgb.DMatrix(X, missing=np.nan), output_margin=True))


def evaluate(table: Table, encoding: str, repeats: int, folds: int) -> dict[str, list[float]]:
    X, types = design(table, encoding)
    survival = table.time is not None
    out: dict[str, list[float]] = {"discrimination": [], "slope": [], "brier": [], "fit_s": []}
    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=0)
    for train, test in splitter.split(X, table.y):
        if survival:
            assert table.time is not None
            label = np.where(table.y[train] == 1, table.time[train], -table.time[train])
            booster, seconds = fit(X[train], label, types, "survival:cox")
            m = margin_of(booster, X[test])
            event, t = table.y[test].astype(bool), table.time[test]
            out["discrimination"].append(float(concordance_index_censored(event, t, m)[0]))
            cox = CoxPHSurvivalAnalysis().fit(m.reshape(-1, 1), Surv.from_arrays(event, t))
            out["slope"].append(float(cox.coef_[0]))
        else:
            booster, seconds = fit(X[train], table.y[train], types, "binary:logistic")
            m = margin_of(booster, X[test])
            p = 1 / (1 + np.exp(-m))
            out["discrimination"].append(float(roc_auc_score(table.y[test], m)))
            lr = LogisticRegression(C=1e6).fit(m.reshape(-1, 1), table.y[test])
            out["slope"].append(float(lr.coef_[0, 0]))
            out["brier"].append(float(brier_score_loss(table.y[test], p)))
        out["fit_s"].append(seconds)
    return out


def _cell(values: list[float], digits: int = 3) -> str:
    if not values:
        return "-"
    return f"{np.mean(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def explanation_check(table: Table) -> str:
    """Exactness of the per-feature explanation for each encoding on the first 200 rows: the largest gap between
    the summed contributions and the margin (one-hot: dummies summed back per feature)."""
    gaps = []
    for encoding in ENCODINGS:
        X, types = design(table, encoding)
        booster, _ = fit(X, table.y, types, "binary:logistic")
        contribs = booster.predict(xgb.DMatrix(X[:200], missing=np.nan), pred_contribs=True)
        gaps.append(f"{encoding}: {float(np.max(np.abs(contribs.sum(axis=1) - margin_of(booster, X[:200])))):.1e}"
                    f" over {contribs.shape[1] - 1} columns")
    return "; ".join(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--sim-patients", type=int, default=3000)
    parser.add_argument("--only-simulated", action="store_true")
    args = parser.parse_args()
    tables: list[Callable[[], Table]] = [lambda: simulated(args.sim_patients),
                                         lambda: simulated(args.sim_patients, n_levels=20)]
    if not args.only_simulated:
        tables = [veterans, aids, *tables]
    for make in tables:
        table = make()
        print(f"\n{table.name}: {len(table.y)} patients, {int(table.y.sum())} events"
              + (f", oracle AUROC {table.oracle_auroc:.3f}" if table.oracle_auroc else ""))
        measure = "Harrell C" if table.time is not None else "AUROC"
        print(f"  {'encoding':<8} {measure + ' mean (min-max)':<28} {'slope':<28} {'Brier':<28} fit s")
        for encoding in ENCODINGS:
            r = evaluate(table, encoding, args.repeats, args.folds)
            print(f"  {encoding:<8} {_cell(r['discrimination']):<28} {_cell(r['slope']):<28} "
                  f"{_cell(r['brier']):<28} {_cell(r['fit_s'], 2)}")
        if table.time is None:
            print("  explanation additivity:", explanation_check(table))


if __name__ == "__main__":
    main()
