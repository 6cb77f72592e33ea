"""Helpers the serving tests share: a real uvicorn server on loopback, metrics parsing, bundle files."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import uvicorn
from fastapi import FastAPI
from mlflow import MlflowClient
from prometheus_client.parser import text_string_to_metric_families

from kernel.artifact import Artifact, ArtifactFeature
from kernel.artifacts import parse_artifact
from kernel.bundle import BOOSTER_FILE


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free loopback port; yield its base URL; shut down gracefully."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def wait_for(condition, timeout: float = 60, what: str = "condition") -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def metric_value(text: str, name: str, **labels: str) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels`` (0 when none)."""
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                total += sample.value
    return total


def registered_booster(client: MlflowClient, name: str, version: str) -> Path:
    """The booster file of a registered version inside the (local) artifact store."""
    mv = client.get_model_version(name, version)
    logged = client.get_logged_model(mv.model_id or mv.source.removeprefix("models:/"))
    root = Path(urlparse(logged.artifact_location).path)
    return root / "artifacts" / BOOSTER_FILE


@contextmanager
def tampered(path: Path, offset: int = 64) -> Iterator[None]:
    """Flip one byte of ``path`` for the duration of the block."""
    original = path.read_bytes()
    data = bytearray(original)
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))
    try:
        yield
    finally:
        path.write_bytes(original)


def example_rows(features: list[ArtifactFeature] | list[dict], n: int) -> tuple[list[dict], np.ndarray]:
    """n distinct, valid patients (age steps through its range) and their feature matrix."""
    features = [f.model_dump() if isinstance(f, ArtifactFeature) else f for f in features]
    names = [f["name"] for f in features]
    patients = []
    for i in range(n):
        values = {f["name"]: f["example"] for f in features}
        age = next(f for f in features if f["name"] == "age_years")
        values["age_years"] = float(age["min"] + (i + 1) * (age["max"] - age["min"]) / (n + 1))
        patients.append({"patient_id": f"load-{i}", "features": values})
    X = np.array([[p["features"][name] for name in names] for p in patients], dtype=float)
    return patients, X


@contextmanager
def ready_client(settings) -> Iterator:  # noqa: ANN001 - pmed Settings
    """A TestClient over ``create_app(settings)`` once its background loader has every served model in."""
    from fastapi.testclient import TestClient

    from serving.app import create_app

    with TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/ready").status_code == 200, timeout=60, what="models ready")
        yield client


def toy_artifact(features: list[dict], **fields: object) -> Artifact:
    """A typed artifact from partial feature dicts (what a test cares about), the rest filled with neutral
    defaults: a wide range, no unit, source 'other', continuous, a risk task."""
    filled = [{"display_name": f["name"], "unit": "", "source": "other", "kind": "continuous", "min": -1e9,
               "max": 1e9, "concept": "", **f} for f in features]
    return parse_artifact({"task": "risk_classification", "model": "toy", "description": "toy", "intended_use": "tests",
                           "target": "y", **fields, "features": filled})


def toy_feature(**fields: object) -> ArtifactFeature:
    return toy_artifact([{"name": "x", **fields}]).features[0]


def assert_requests_match_artifacts(client, key: str) -> list[str]:  # noqa: ANN001 - a TestClient
    """For every served model: the request fields accepted are exactly the artifact's features (the
    covariates for compare-treatments), and ``GET /v1/models/{name}`` lists those same features."""
    checked = []
    for model in client.app.state.store.all():
        names = model.spec.feature_names
        assert list(model.request_model.model_fields) == names, model.name
        sent, sent_model = model.task.form_fields(model)
        assert list(sent_model.model_fields) == [f.name for f in sent], model.name
        assert set(sent_model.model_fields) <= set(names), model.name
        info = client.get(f"/v1/models/{model.name}", headers={"Authorization": f"Bearer {key}"}).json()
        assert [f["name"] for f in info["features"]] == names, model.name
        assert info["task"] == model.spec.task == model.task.name
        checked.append(model.name)
    return checked
