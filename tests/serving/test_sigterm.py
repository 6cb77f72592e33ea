"""A real `pmed serve` process: SIGTERM lets an in-flight batch finish with 200, then exits 0.

Also a canary check on everything the real server process prints (uvicorn and pmed logs).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from kernel.settings import Settings
from tests.serving.conftest import auth
from tests.serving.helpers import metric_value, wait_for

pytestmark = pytest.mark.slow
CANARY_ID = "CANARY-SIGTERM-ID-71c"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_sigterm_drains_the_in_flight_request_and_exits_zero(trained_home: Settings, api_keys: dict[str, str],
                                                             tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "PMED_HOME": str(trained_home.home), "PMED_SERVED_MODELS": '["cad_risk"]',
           "PMED_PORT": str(port), "PMED_MAX_BATCH_PATIENTS": "1500", "PMED_MAX_BODY_BYTES": str(64 << 20)}
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "pmed.cli", "serve"], env=env, stdout=log,
                                  stderr=subprocess.STDOUT, cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(base), timeout=120, what="server ready")
        meta = httpx.get(f"{base}/v1/models/cad_risk", headers=auth(api_keys["application"])).json()
        values = {f["name"]: f["example"] for f in meta["features"]}
        body = {"patients": [{"patient_id": f"{CANARY_ID}-{i}", "features": values} for i in range(1500)]}
        result: dict[str, httpx.Response] = {}
        sender = threading.Thread(target=lambda: result.update(response=httpx.post(
            f"{base}/v1/models/cad_risk/predict", json=body, headers=auth(api_keys["application"]), timeout=120)))
        sender.start()
        wait_for(lambda: _predictions_in_flight(base, api_keys["data_scientist"]) >= 1 or "response" in result,
                 timeout=30, what="the batch in flight")
        assert "response" not in result, "the batch finished before SIGTERM: make it larger"
        server.send_signal(signal.SIGTERM)
        sender.join(timeout=120)
        assert server.wait(timeout=60) == 0
    finally:
        if server.poll() is None:
            server.kill()
    response = result["response"]
    assert response.status_code == 200 and len(response.json()["predictions"]) == 1500
    output = log_path.read_text()
    assert "Waiting for" in output or "Shutting down" in output
    assert CANARY_ID not in output


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def _predictions_in_flight(base: str, key: str) -> float:
    text = httpx.get(f"{base}/metrics", headers=auth(key), timeout=5).text
    return metric_value(text, "pmed_http_requests_in_progress", method="POST")
