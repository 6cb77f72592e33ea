"""The whole path as a user runs it: CLI steps in a fresh PMED_HOME, then `pmed serve` (uvicorn on
loopback) answering HTTP calls built from its own model metadata."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import xgboost as xgb
import yaml

from kernel.bundle import read_bundle
from kernel.model_registry import download_version, registry_client
from kernel.settings import Settings

REPO = Path(__file__).resolve().parents[2]
PMED = str(Path(sys.executable).with_name("pmed"))
CANARY = "CANARY-e2e-5d1c"
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pmed(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PMED, *args], env=env, capture_output=True, text=True, timeout=600, cwd=REPO,
                          check=False)
    assert done.returncode == 0, f"pmed {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    root = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    env = {**os.environ, "PMED_HOME": str(root / ".pmed"), "PMED_PORT": str(port),
           "PMED_SERVED_MODELS": '["cad_risk"]', "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    spec = yaml.safe_load((REPO / "models" / "cad_risk.yaml").read_text())
    # the demo's survival model; 3,000 patients (about 70 test events): noisy estimates, loose gates
    spec["survival_gates"].update({"min_c_index": 0.6, "observed_expected_at_horizon": [0.5, 2.0],
                                   "max_c_index_drop_vs_cox_ph": None})
    (root / "cad_risk.yaml").write_text(yaml.safe_dump(spec))
    build_log = _pmed(env, "simulate", "--patients", "3000", "--seed", "5", "--out", str(root / "raw"))
    build_log += _pmed(env, "features", "build", "--raw", str(root / "raw"), "--out", str(root / "features"))
    build_log += _pmed(env, "train", str(root / "cad_risk.yaml"), "--features", str(root / "features"))
    key = _pmed(env, "keys", "create", "--name", "e2e", "--role", "clinician").strip().splitlines()[-1]
    log_path = root / "server.log"
    with log_path.open("w") as log:
        server = subprocess.Popen([PMED, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "server never became ready:\n" + log_path.read_text()
            time.sleep(0.5)
        yield {"base": base, "key": key, "home": root / ".pmed", "log": log_path, "build_log": build_log}
    finally:
        server.terminate()
        server.wait(timeout=30)


def _headers(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


def _example_request(served: dict[str, object]) -> dict:
    meta = httpx.get(f"{served['base']}/v1/models/cad_risk", headers=_headers(served["key"])).json()
    values = {f["name"]: f["example"] for f in meta["features"]}
    return {"patients": [{"patient_id": "e2e-1", "features": values}]}


def test_build_reports_counts_and_quarantine(served: dict[str, object]) -> None:
    log = served["build_log"]
    assert "quarantine" in log.lower()
    assert "MLflow run" in log and "alias champion -> cad_risk version 1" in log


def test_prediction_over_http_adds_up_to_the_registered_models_margin(served: dict[str, object]) -> None:
    body = _example_request(served)
    response = httpx.post(f"{served['base']}/v1/models/cad_risk/predict", json=body,
                          headers=_headers(served["key"]), timeout=30)
    assert response.status_code == 200, response.text
    prediction = response.json()["predictions"][0]
    assert 0 <= prediction["risk"] <= 1
    settings = Settings(home=served["home"], _env_file=None)
    client = registry_client(settings)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = read_bundle(download_version(client, "cad_risk", "1", Path(tmp)))
    X = np.array([[body["patients"][0]["features"][n] for n in bundle.feature_names]], dtype=float)
    margin = float(bundle.booster.predict(xgb.DMatrix(X), output_margin=True)[0])
    explanation = prediction["explanation"]
    total = explanation["base_value"] + sum(c["contribution"] for c in explanation["contributions"])
    assert total == pytest.approx(margin, abs=1e-4)
    assert prediction["risk"] == pytest.approx(float(bundle.calibrator.predict(np.array([margin]))[0]), abs=1e-6)


def test_no_credential_is_401_and_bad_value_is_422_without_echo(served: dict[str, object]) -> None:
    body = _example_request(served)
    url = f"{served['base']}/v1/models/cad_risk/predict"
    assert httpx.post(url, json=body).status_code == 401
    assert httpx.post(url, json=body, headers=_headers("not-a-key")).status_code == 401
    body["patients"][0]["patient_id"] = CANARY + "-MRN"
    body["patients"][0]["features"]["hdl_mg_dl"] = CANARY
    response = httpx.post(url, json=body, headers=_headers(served["key"]))
    assert response.status_code == 422
    assert CANARY not in response.text and "hdl_mg_dl" in response.text


def test_server_log_and_audit_hold_no_patient_identifiers(served: dict[str, object]) -> None:
    body = _example_request(served)
    body["patients"][0]["patient_id"] = CANARY + "-AUDITED"
    httpx.post(f"{served['base']}/v1/models/cad_risk/predict", json=body, headers=_headers(served["key"]))
    audit = (Path(served["home"]) / "audit" / "predictions.jsonl").read_text()
    assert len(audit.splitlines()) >= 1 and CANARY not in audit
    assert json.loads(audit.splitlines()[-1])["version"] == "1"
    assert CANARY not in Path(served["log"]).read_text()
