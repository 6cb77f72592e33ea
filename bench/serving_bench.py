"""Serve the same registered model with pmed and with `mlflow models serve`, side by side, and time both.

Usage (after `make run` has trained the demo champions, or it trains them itself):
    .venv/bin/python bench/serving_bench.py [--requests 400] [--model cad_risk]

Both servers run on loopback as one process each; the load generator is a thread pool in this process.
pmed's numbers include exact TreeSHAP, auth and the fsynced audit write; MLflow's return only the
probability. Prints medians, p99s, throughput and the ratio pmed / MLflow.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from pmed.bundle import read_bundle
from pmed.registry import download_version, version_for_alias
from pmed.settings import Settings
from serving.auth import issue_key
from training.tracking import configure_mlflow

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early ({url})")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not ready after {seconds} s")


def measure(url: str, body: dict, headers: dict[str, str], n: int, clients: int) -> dict[str, float]:
    """Send n requests from ``clients`` concurrent workers; latencies in ms, throughput in requests/s."""
    def one(session: httpx.Client) -> float:
        started = time.perf_counter()
        response = session.post(url, json=body, headers=headers)
        response.raise_for_status()
        return 1000 * (time.perf_counter() - started)

    sessions = [httpx.Client(timeout=30) for _ in range(clients)]
    for s in sessions:
        one(s)  # warm up connections and code paths
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(pool.map(lambda i: one(sessions[i % clients]), range(n)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"p50": statistics.median(latencies), "p99": latencies[int(0.99 * (len(latencies) - 1))],
            "rps": n / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--model", default="cad_risk")
    args = parser.parse_args()
    settings = Settings()
    client = configure_mlflow(settings)
    if version_for_alias(client, args.model, "champion") is None:
        subprocess.run([str(BIN / "pmed"), "demo", "--no-serve"], check=True)
    mv = version_for_alias(client, args.model, "champion")
    with tempfile.TemporaryDirectory() as tmp:
        spec = read_bundle(download_version(client, args.model, str(mv.version), Path(tmp))).feature_spec
    example = {f["name"]: f["example"] for f in spec["features"]}
    _, key = issue_key(settings.keys_file, "bench", "application", replace=True)

    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # mlflow execs uvicorn
           "OMP_NUM_THREADS": "1", "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
           "PMED_SERVED_MODELS": f'["{args.model}"]'}
    pmed_port, mlflow_port = free_port(), free_port()
    servers = [
        subprocess.Popen([str(BIN / "pmed"), "serve", "--port", str(pmed_port)], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        subprocess.Popen([str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{args.model}@champion",
                          "--env-manager", "local", "-p", str(mlflow_port), "-h", "127.0.0.1", "--workers", "1"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
    ]
    try:
        wait_ready(f"http://127.0.0.1:{pmed_port}/ready", servers[0])
        wait_ready(f"http://127.0.0.1:{mlflow_port}/ping", servers[1])
        targets = {
            "pmed (risk + exact SHAP, auth, audit)": (
                f"http://127.0.0.1:{pmed_port}/v1/models/{args.model}/predict",
                {"patients": [{"patient_id": "bench-1", "features": example}]},
                {"Authorization": f"Bearer {key}"}),
            "mlflow models serve (risk only)": (
                f"http://127.0.0.1:{mlflow_port}/invocations",
                {"dataframe_split": {"columns": list(example), "data": [list(example.values())]}}, {}),
        }
        rows = []
        for clients in (1, 8):
            results = {name: measure(url, body, headers, args.requests, clients)
                       for name, (url, body, headers) in targets.items()}
            rows.append((clients, results))
    finally:
        for proc in servers:
            proc.terminate()
            proc.wait(timeout=30)
    print_table(args.model, str(mv.version), args.requests, rows)


def print_table(model: str, version: str, n: int, rows: list) -> None:
    print(f"\nserving benchmark: {model} v{version}, 1 patient per request, {n} requests per cell, "
          f"{os.cpu_count()} CPUs\n")
    print(f"| {'server':40} | clients | p50 ms | p99 ms | req/s |")
    print(f"|{'-' * 42}|---------|--------|--------|-------|")
    for clients, results in rows:
        for name, r in results.items():
            print(f"| {name:40} | {clients:7} | {r['p50']:6.1f} | {r['p99']:6.1f} | {r['rps']:5.0f} |")
        pmed, peer = results.values()
        print(f"| {'ratio pmed / mlflow':40} | {clients:7} | {pmed['p50'] / peer['p50']:6.2f} | "
              f"{pmed['p99'] / peer['p99']:6.2f} | {pmed['rps'] / peer['rps']:5.2f} |")


if __name__ == "__main__":
    main()
