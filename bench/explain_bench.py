"""In-process cost of exact explanations: pmed's path tables against XGBoost's own TreeSHAP, same rows.

Usage:
    .venv/bin/python bench/explain_bench.py [--reps 30] [--skip-concurrency]

Trains two seeded synthetic boosters: the demo shape (18 features, depth 3, 230 trees, monotone on five
features, like models/cad_risk.yaml) and the issue's reference shape (60 features, depth 6, 400 trees).
For 1-row and 100-row calls it times, on the same rows and interleaved: predict-only, ``pred_contribs``
at one thread and at all cores (DMatrix construction included, as serving does), the tables inline and
through ``serving.explain.shap_values`` (the batch pool). Prints medians, ratios, the largest difference
from ``pred_contribs``, a profile of where the tables' time goes, and single-row latency while batches
run in the background (inline vs pool).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import threading
import time
from collections.abc import Callable

import numpy as np
import xgboost as xgb

from serving.explain import _cores, prepare_explainer, shap_values
from serving.treeshap import PathTables

SHAPES = {"demo 18f d3 230t": (18, 3, 230, 5), "reference 60f d6 400t": (60, 6, 400, 0)}


def train(n_features: int, depth: int, trees: int, monotone: int, seed: int = 7) -> tuple[xgb.Booster, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4000, n_features))
    X[rng.random(X.shape) < 0.1] = np.nan
    coef = rng.normal(size=n_features) / np.sqrt(n_features)
    logit = np.nan_to_num(X) @ coef + 0.5 * np.nan_to_num(X[:, 0] * X[:, 1])
    y = (logit + rng.logistic(size=len(X)) > 0).astype(float)
    constraints = tuple([1] * monotone + [0] * (n_features - monotone))
    params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": depth, "eta": 0.05,
              "subsample": 0.8, "colsample_bytree": 0.8, "min_child_weight": 1, "seed": seed,
              "nthread": _cores(), "monotone_constraints": str(constraints)}
    booster = xgb.train(params, xgb.DMatrix(X[:3000], label=y[:3000], missing=np.nan), trees)
    return booster, X[3000:]  # rows never seen in training


def with_threads(booster: xgb.Booster, nthread: int) -> xgb.Booster:
    copy = booster.copy()
    copy.set_param({"nthread": nthread})
    return copy


def methods(booster: xgb.Booster, tables: PathTables) -> dict[str, Callable[[np.ndarray], np.ndarray | None]]:
    one, every = with_threads(booster, 1), with_threads(booster, _cores())
    return {
        "predict-only (1 thread)": lambda X: one.predict(xgb.DMatrix(X, missing=np.nan), output_margin=True),
        "pred_contribs (1 thread)": lambda X: one.predict(xgb.DMatrix(X, missing=np.nan), pred_contribs=True),
        f"pred_contribs ({_cores()} threads)": lambda X: every.predict(xgb.DMatrix(X, missing=np.nan),
                                                                      pred_contribs=True),
        "pmed tables (inline)": tables.contributions,
        "pmed explain path (pool > 64 rows)": lambda X: shap_values(booster, X, tables),
    }


def time_calls(calls: dict[str, Callable], row_sets: list[np.ndarray]) -> dict[str, list[float]]:
    """Every method on the same rows, interleaved so machine noise hits them alike."""
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for X in row_sets:
        for name, call in calls.items():
            start = time.perf_counter()
            call(X)
            seconds[name].append(time.perf_counter() - start)
    return seconds


def report_shape(label: str, shape: tuple[int, int, int, int], reps: int) -> tuple[xgb.Booster, PathTables, np.ndarray]:
    booster, held_out = train(*shape)
    start = time.perf_counter()
    tables = PathTables.from_booster(booster)
    build_s = time.perf_counter() - start
    assert prepare_explainer(booster) is not None  # the explain path's own tables build and pass the probe
    print(f"\n## {label}: {len(tables.leaf_offset)} leaves, tables {tables.nbytes / 2**20:.1f} MiB, "
          f"built in {build_s:.2f} s")
    calls = methods(booster, tables)
    reference = calls["pred_contribs (1 thread)"]
    rng = np.random.default_rng(1)
    print(f"{'rows':>4}  {'method':<36} {'median ms':>10} {'us/row':>9} {'vs contribs@1':>14} {'max |diff|':>11}")
    for n in (1, 100):
        row_sets = [held_out[rng.choice(len(held_out), n, replace=False)] for _ in range(reps)]
        seconds = time_calls(calls, row_sets)
        base = statistics.median(seconds["pred_contribs (1 thread)"])
        check = np.vstack(row_sets[:5])
        for name, values in seconds.items():
            median = statistics.median(values)
            diff = "" if name.startswith("predict-only") else \
                f"{np.max(np.abs(calls[name](check) - reference(check))):.1e}"
            print(f"{n:>4}  {name:<36} {median * 1e3:>10.3f} {median / n * 1e6:>9.1f} {median / base:>14.3f} "
                  f"{diff:>11}")
    return booster, tables, held_out


def profile(tables: PathTables, held_out: np.ndarray) -> None:
    """cProfile of 100-row batches; the table code is split into one function per stage so it shows."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(20):
        tables.contributions(held_out[:100])
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(10)
    lines = [line for line in text.getvalue().splitlines() if line.strip()]
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    print("\n## profile: 20 x 100-row batches, reference model, by own time")
    print("\n".join(lines[start:start + 11]))


def concurrency(booster: xgb.Booster, held_out: np.ndarray, seconds: float = 3.0) -> None:
    """Single-row latency while another thread explains 200-row batches back to back."""
    tables = PathTables.from_booster(booster)
    batch = np.tile(held_out[:100], (2, 1))
    print(f"\n## one-patient latency while 200-row batches run ({_cores()} cores)")
    print(f"{'background':<26} {'1-row p50 ms':>12} {'1-row p99 ms':>12} {'batch rows/s':>13}")
    modes: dict[str, Callable[[], object] | None] = {
        "none": None,
        "batches inline": lambda: tables.contributions(batch),
        "batches via pool": lambda: shap_values(booster, batch, tables),
    }
    for mode, work in modes.items():
        stop, rows_done = threading.Event(), [0]

        def loop(work: Callable[[], object] = work, stop: threading.Event = stop, rows_done: list[int] = rows_done
                 ) -> None:
            while not stop.is_set():
                work()
                rows_done[0] += len(batch)

        worker = threading.Thread(target=loop) if work else None
        if worker:
            worker.start()
        latencies, deadline = [], time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            shap_values(booster, held_out[len(latencies) % 100: len(latencies) % 100 + 1], tables)
            latencies.append(time.perf_counter() - start)
            time.sleep(0.002)  # a request stream, not a busy loop
        stop.set()
        if worker:
            worker.join()
        p50, p99 = np.percentile(latencies, [50, 99]) * 1e3
        throughput = f"{rows_done[0] / seconds:>13.0f}" if work else f"{'-':>13}"
        print(f"{mode:<26} {p50:>12.3f} {p99:>12.3f} {throughput}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=30, help="timed calls per method and batch size")
    parser.add_argument("--skip-concurrency", action="store_true")
    args = parser.parse_args()
    print(f"# explain bench: xgboost {xgb.__version__}, {_cores()} usable cores ({os.cpu_count()} on the machine)")
    for label, shape in SHAPES.items():
        booster, tables, held_out = report_shape(label, shape, args.reps)
    profile(tables, held_out)
    if not args.skip_concurrency:
        concurrency(booster, held_out)


if __name__ == "__main__":
    main()
