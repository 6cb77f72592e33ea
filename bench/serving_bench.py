"""Serve the same registered model with pmed and with `mlflow models serve`, side by side, and time both.

Usage:
    .venv/bin/python bench/serving_bench.py [--seconds 2] [--rounds 3] [--patients 10000]

The model is the issue's reference: 400 trees of depth 6 on 60 features, trained through the
bring-your-own-table path (a seeded synthetic table with 60 declared features, fixed 400 rounds) and
registered in a temporary PMED_HOME with MLflow on SQLite. The same version, `models:/<name>@champion`,
is then served on loopback by `pmed serve` (uvicorn, one process; API-key auth, request validation and
the fsynced audit record on every call) and by `mlflow models serve --env-manager local --workers 1`
(its pyfunc reads the same bundle; it returns only the probability).

The load generator (bench/http_load.py) is a separate process with one keep-alive connection per
client. Each cell (server x patients per request x concurrent clients) runs ``--seconds`` per round,
interleaved over ``--rounds`` rounds; p50/p99 are over all its requests, req/s the median of the rounds.
Peak memory is each server's VmHWM (kernel peak RSS), summed over its process tree (mlflow's CLI
process and the uvicorn worker it starts).

Before the servers start, the explanation path and the parts of one request are timed in-process on
the same rows, against XGBoost's own TreeSHAP (``Booster.predict(..., pred_contribs=True)``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import psutil
import xgboost as xgb
import yaml

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent
MODEL = "reference_risk"
N_FEATURES, N_BINARY, TREES, DEPTH = 60, 10, 400, 6
BATCH = 100


def reference_table(path: Path, n: int, seed: int) -> pd.DataFrame:
    """Seeded synthetic cohort: 50 continuous and 10 binary markers, an outcome with interactions, 3% missing."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, (n, N_FEATURES))
    X[:, -N_BINARY:] = (X[:, -N_BINARY:] > 0.3).astype(float)
    weights = rng.normal(0.0, 0.35, N_FEATURES)
    logit = (-1.2 + X @ weights + 0.6 * np.sin(2 * X[:, 0]) * X[:, 1] + 0.5 * X[:, 2] * X[:, 3]
             - 0.4 * np.abs(X[:, 4]) + 0.4 * X[:, 5] ** 2)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X[:, 10:20][rng.random((n, 10)) < 0.03] = np.nan  # optional markers, sometimes not recorded
    frame = pd.DataFrame(np.round(X, 3), columns=feature_names())
    frame.insert(0, "subject", [f"S{i:06d}" for i in range(n)])
    frame["event"] = y
    frame.to_csv(path, index=False)
    return frame


def feature_names() -> list[str]:
    return [f"marker_{j + 1:02d}" for j in range(N_FEATURES)]


def reference_spec() -> dict:
    declared = [{"name": name, "display_name": f"Marker {j + 1}", "source": ("ehr", "lifestyle", "genetic")[j % 3],
                 **({"unit": "1 = yes, 0 = no", "kind": "binary", "min": 0, "max": 1} if j >= N_FEATURES - N_BINARY
                    else {"unit": "z-score", "kind": "continuous", "min": -10, "max": 10, "required": j < 10})}
                for j, name in enumerate(feature_names())]
    return {"name": MODEL, "description": "Synthetic 60-marker risk model: the serving benchmark's reference.",
            "intended_use": "Benchmarking only; not a clinical model.", "target": "event", "horizon_years": 5,
            "id_column": "subject", "features": feature_names(), "declared_features": declared,
            # early stopping is given as many rounds as there are trees, so it never stops early: 400 trees
            "xgboost": {"max_depth": DEPTH, "learning_rate": 0.03, "n_estimators": TREES,
                        "early_stopping_rounds": TREES, "nthread": os.cpu_count() or 1},
            "subgroups": [], "bootstrap_samples": 10,
            "gates": {"min_auroc": 0.6, "calibration_slope": [0.5, 2.0], "min_test_events": 10}}


def build_reference_model(home: Path, patients: int) -> tuple[object, str]:
    """Train and register the reference model in ``home``; return (Settings, version)."""
    from kernel.settings import Settings
    from training.pipeline import train_from_spec

    spec_path = home.parent / f"{MODEL}.yaml"
    spec_path.write_text(yaml.safe_dump(reference_spec()))
    reference_table(home.parent / "cohort.csv", patients, seed=20261128)
    settings = Settings(home=home, served_models=[MODEL], _env_file=None)
    outcome = train_from_spec(spec_path, None, settings, table=home.parent / "cohort.csv")
    if not outcome.promoted:
        raise RuntimeError(f"reference model failed its gates: {outcome.gates}")
    return settings, outcome.version


def reference_model(home: Path, patients: int) -> tuple[object, str]:
    """The reference model registered in ``home``: reused when a previous run left it there, else trained."""
    from kernel.model_registry import version_for_alias
    from kernel.settings import Settings
    from training.tracking import configure_mlflow

    if (home / "mlflow.db").is_file():
        settings = Settings(home=home, served_models=[MODEL], _env_file=None)
        champion = version_for_alias(configure_mlflow(settings), MODEL, "champion")
        if champion is not None:
            print(f"reusing {MODEL} v{champion.version} in {home}", flush=True)
            return settings, str(champion.version)
    home.mkdir(parents=True, exist_ok=True)
    print(f"training the reference model on {patients} synthetic patients ...", flush=True)
    return build_reference_model(home, patients)


def load_served(settings: object, version: str, folder: Path) -> object:
    """The registered version as pmed serves it (verified bundle, booster at one thread)."""
    from kernel.bundle import read_bundle
    from kernel.model_registry import download_version
    from serving.registry import served_model_from_bundle
    from training.tracking import configure_mlflow

    bundle = read_bundle(download_version(configure_mlflow(settings), MODEL, version, folder))
    trees = len(bundle.booster.get_dump())
    if trees != TREES:
        raise RuntimeError(f"reference model has {trees} trees, not {TREES}")
    return served_model_from_bundle(MODEL, version, "champion", bundle)


def patients(n: int, seed: int = 5) -> list[dict]:
    """n distinct, valid request patients drawn like the training cohort (no missing values)."""
    rng = np.random.default_rng(seed)
    X = np.round(rng.normal(0.0, 1.0, (n, N_FEATURES)), 3)
    X[:, -N_BINARY:] = (X[:, -N_BINARY:] > 0.3).astype(float)
    return [{"patient_id": f"bench-{i}", "features": dict(zip(feature_names(), map(float, row), strict=True))}
            for i, row in enumerate(X)]


def per_call_us(fn: Callable[[], object], min_seconds: float = 0.5, min_calls: int = 5) -> float:
    """Median microseconds per call over repeated calls (the machine is shared: the median resists noise)."""
    fn()
    times, started = [], time.perf_counter()
    while len(times) < min_calls or time.perf_counter() - started < min_seconds:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e6 * statistics.median(times)


def in_process_timings(model: object, tmp: Path) -> list[tuple[str, float, float]]:
    """(step, us per call for 1 patient, us per patient in a 100-patient batch), on the same rows."""
    from serving.audit import AuditLog

    audit = AuditLog.open(tmp / "audit", tmp / "secrets")
    gc.freeze()  # as the server does at start, so collections do not walk the imported modules
    rows: list[tuple[str, float, float]] = []
    for n in (1, BATCH):
        for i, (name, fn) in enumerate(_steps(model, audit, patients(n)).items()):
            us = per_call_us(fn) / (1 if n == 1 else n)
            if n == 1:
                rows.append((name, us, float("nan")))
            else:
                rows[i] = (name, rows[i][1], us)
    return rows


def _steps(model: object, audit: object, batch: list[dict]) -> dict[str, Callable[[], object]]:
    """Each timed step of one predict call for ``batch``, as a call on the same, already prepared rows."""
    from serving.call import validated_rows
    from serving.explain import explain
    from serving.risk.answer import explained_predictions
    from serving.schemas import PredictionRequest, PredictionResponse

    body = PredictionRequest.model_validate({"patients": batch})

    def validate() -> np.ndarray:  # the shared route plumbing's validation
        return validated_rows([p.features for p in body.patients], model.bundle.feature_names, model.request_model)

    X = validate()
    explained = explain(model.bundle, X, model.explainer)
    ids = [p.patient_id for p in body.patients]
    answers = explained_predictions(model, ids, X, explained)
    response = PredictionResponse(request_id="r", model=MODEL, version=model.version, alias="champion",
                                  outcome="event", predictions=answers)
    records = [{"request_id": "r", "patient_key": audit.pseudonym(p.patient_id)} for p in body.patients]
    return {
        "XGBoost pred_contribs (TreeSHAP in C++, 1 thread)":
            lambda: model.bundle.booster.predict(xgb.DMatrix(X, missing=np.nan, nthread=1), pred_contribs=True),
        "XGBoost margin only (inplace_predict)":
            lambda: model.bundle.booster.inplace_predict(X, predict_type="margin"),
        "pmed explain() (serving/explain.py)": lambda: explain(model.bundle, X, model.explainer),
        "request validation (feature schema -> matrix)": validate,
        "answer assembly (risk points, concepts, flags)":
            lambda: explained_predictions(model, ids, X, explained),  # as the route does, once per batch
        "response JSON (pydantic)": response.model_dump_json,
        "audit record (fsync)": lambda: audit.record(records),
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early ({url}); see its log")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {seconds} s")


def start_servers(settings: object, logs: Path) -> tuple[dict[str, subprocess.Popen], dict[str, int]]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow execs uvicorn
           "PMED_HOME": str(settings.resolved_home), "PMED_SERVED_MODELS": json.dumps([MODEL]),
           "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri, "MLFLOW_REGISTRY_URI": settings.mlflow_registry_uri}
    for name in ("OMP_NUM_THREADS", "PMED_API_KEY"):  # each server must set its own thread count
        env.pop(name, None)
    ports = {"pmed": free_port(), "mlflow": free_port()}
    commands = {
        "pmed": [str(BIN / "pmed"), "serve", "--port", str(ports["pmed"])],
        "mlflow": [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{MODEL}@champion", "--env-manager",
                   "local", "-p", str(ports["mlflow"]), "-h", "127.0.0.1", "--workers", "1"],
    }
    servers = {name: subprocess.Popen(cmd, env=env, cwd=settings.resolved_home.parent,
                                      stdout=(logs / f"{name}.log").open("w"), stderr=subprocess.STDOUT)
               for name, cmd in commands.items()}
    wait_ready(f"http://127.0.0.1:{ports['pmed']}/ready", servers["pmed"])
    wait_ready(f"http://127.0.0.1:{ports['mlflow']}/ping", servers["mlflow"])
    return servers, ports


def cells(ports: dict[str, int], pids: dict[str, list[int]], key: str, seconds: float) -> list[dict]:
    """Every (target, patients per request, clients) combination as a load-generator cell."""
    out = []
    for n in (1, BATCH):
        group = patients(n)
        pmed_body = json.dumps({"patients": group})
        mlflow_body = json.dumps({"dataframe_split": {"columns": feature_names(),
                                                      "data": [list(p["features"].values()) for p in group]}})
        targets = {
            "pmed, risk + explanation": ("pmed", f"/v1/models/{MODEL}/predict", pmed_body),
            "pmed, risk only (?explain=false)": ("pmed", f"/v1/models/{MODEL}/predict?explain=false", pmed_body),
            "mlflow models serve, risk only": ("mlflow", "/invocations", mlflow_body),
        }
        for clients in (1, 8):
            for label, (server, path, body) in targets.items():
                headers = {"Authorization": f"Bearer {key}"} if server == "pmed" else {}
                out.append({"label": label, "server": server, "patients": n, "clients": clients, "host": "127.0.0.1",
                            "port": ports[server], "path": path, "headers": headers, "body": body,
                            "seconds": seconds, "pids": pids[server]})
    return out


def run_load(plan: list[dict], rounds: int) -> list[dict]:
    """Each cell ``rounds`` times, interleaved, in one load-generator process; results merged per cell."""
    proc = subprocess.run([sys.executable, str(HERE / "http_load.py")], input=json.dumps(plan * rounds),
                          capture_output=True, text=True, check=False)  # its stderr is reported below
    if proc.returncode != 0:
        raise RuntimeError(f"load generator failed:\n{proc.stderr[-3000:]}")
    raw = json.loads(proc.stdout)
    merged = []
    for i, cell in enumerate(plan):
        runs = raw[i::len(plan)]
        latencies = sorted(x for r in runs for x in r["latencies_ms"])
        merged.append({**{k: cell[k] for k in ("label", "server", "patients", "clients")},
                       "p50": statistics.median(latencies), "p99": latencies[int(0.99 * (len(latencies) - 1))],
                       "rps": statistics.median(r["requests"] / r["wall_s"] for r in runs),
                       "requests": len(latencies), "errors": sum(r["errors"] for r in runs),
                       "cpu_ms": 1000 * sum(r["server_cpu_s"] for r in runs) / max(1, len(latencies)),
                       "first_error": next((r["first_error"] for r in runs if r["errors"]), None)})
    return merged


def tree(proc: subprocess.Popen) -> list[int]:
    """The server's process and its descendants (mlflow's CLI starts uvicorn as a child)."""
    root = psutil.Process(proc.pid)
    return [root.pid, *(child.pid for child in root.children(recursive=True))]


def peak_rss_mib(proc: subprocess.Popen) -> float:
    """VmHWM (the kernel's peak resident set) summed over the server's process tree."""
    total = 0
    for pid in tree(proc):
        status = Path(f"/proc/{pid}/status").read_text()
        total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    return total / 1024


def print_tables(results: list[dict], memory: dict[str, float], timings: list[tuple[str, float, float]],
                 version: str, args: argparse.Namespace) -> None:
    print(f"\nserving benchmark: {MODEL} v{version} ({TREES} trees, depth {DEPTH}, {N_FEATURES} features), "
          f"{os.cpu_count()} CPUs, {args.rounds} rounds x {args.seconds:g} s per cell\n")
    print("| server, answer | patients/request | clients | p50 ms | p99 ms | req/s | patients/s | x mlflow req/s "
          "| server CPU ms/req |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    peer = {(r["patients"], r["clients"]): r["rps"] for r in results if r["server"] == "mlflow"}
    for r in results:
        ratio = r["rps"] / peer[(r["patients"], r["clients"])]
        print(f"| {r['label']} | {r['patients']} | {r['clients']} | {r['p50']:.1f} | {r['p99']:.1f} | "
              f"{r['rps']:.0f} | {r['rps'] * r['patients']:.0f} | {ratio:.1f} | {r['cpu_ms']:.1f} |")
    print("\n| server | peak RSS (MiB, process tree) |\n|---|---:|")
    for name, mib in memory.items():
        print(f"| {name} | {mib:.0f} |")
    print("\nin-process, same rows (median us; one thread):\n")
    print("| step | 1 patient (us/call) | 100-patient batch (us/patient) |\n|---|---:|---:|")
    for name, one, batch in timings:
        print(f"| {name} | {one:.0f} | {batch:.0f} |")
    contribs, explain = timings[0], timings[2]
    print(f"\nexplain() / pred_contribs: {explain[1] / contribs[1]:.2f} (1 patient), "
          f"{explain[2] / contribs[2]:.2f} (batch)")
    for n in (1, BATCH):
        for c in (1, 8):
            row = {r["label"]: r["rps"] for r in results if r["patients"] == n and r["clients"] == c}
            base = peer[(n, c)]
            lean, full = row["pmed, risk only (?explain=false)"] / base, row["pmed, risk + explanation"] / base
            print(f"targets, {n} patient(s), {c} client(s): risk only {lean:.1f}x mlflow (target 10x); "
                  f"risk + explanation {full:.1f}x (target 2.5x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="load per cell and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--patients", type=int, default=10_000, help="rows of the synthetic training table")
    parser.add_argument("--home", type=Path, help="keep the trained model in this folder and reuse it next time")
    args = parser.parse_args()
    from serving.auth import issue_key

    with tempfile.TemporaryDirectory(prefix="pmed-serving-bench-") as tmp:
        work = Path(tmp)
        home = args.home.resolve() / "home" if args.home else work / "home"
        settings, version = reference_model(home, args.patients)
        model = load_served(settings, version, work / "download")
        print("timing the explanation path in-process ...", flush=True)
        timings = in_process_timings(model, work)
        _, key = issue_key(settings.keys_file, "bench", "application", replace=True)
        servers, ports = start_servers(settings, work)
        try:
            print("serving with pmed and mlflow; load generator running ...", flush=True)
            pids = {name: tree(proc) for name, proc in servers.items()}
            results = run_load(cells(ports, pids, key, args.seconds), args.rounds)
            memory = {"pmed serve": peak_rss_mib(servers["pmed"]),
                      "mlflow models serve": peak_rss_mib(servers["mlflow"])}
        finally:
            for proc in servers.values():
                proc.terminate()
            for proc in servers.values():
                proc.wait(timeout=60)
        failed = [r for r in results if r["errors"]]
        print_tables(results, memory, timings, version, args)
        if failed:
            for r in failed:
                print(f"ERROR {r['label']} ({r['patients']} patients, {r['clients']} clients): {r['errors']} "
                      f"non-200 answers, first {r['first_error']}", file=sys.stderr)
            for name in ("pmed", "mlflow"):
                print(f"--- {name} log tail ---\n{(work / f'{name}.log').read_text()[-3000:]}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
