"""Serving loads and answers without deserialising code: pickle and joblib loaders are booby-trapped."""

from __future__ import annotations

import pickle
import time

import joblib
import pytest
from fastapi.testclient import TestClient

from kernel.settings import Settings
from serving.app import create_app
from tests.serving.conftest import auth


def test_loading_by_alias_and_predicting_never_unpickles(trained_home: Settings, api_keys: dict[str, str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def trap(name: str):  # noqa: ANN202
        def refuse(*args: object, **kwargs: object) -> None:
            calls.append(name)
            raise AssertionError(f"{name} called on the serving path")
        return refuse

    cloudpickle = pytest.importorskip("cloudpickle")  # MLflow's pickler; binds pickle.load at import
    for module, name in ((pickle, "load"), (pickle, "loads"), (joblib, "load"), (cloudpickle, "load"),
                         (cloudpickle, "loads")):
        monkeypatch.setattr(module, name, trap(f"{module.__name__}.{name}"))
    monkeypatch.setattr(pickle, "Unpickler", trap("pickle.Unpickler"))
    with TestClient(create_app(trained_home)) as client:
        deadline = time.monotonic() + 60
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline and not calls, calls
            time.sleep(0.2)
        meta = client.get("/v1/models/cad_risk", headers=auth(api_keys["clinician"])).json()
        body = {"patients": [{"patient_id": "x", "features": {f["name"]: f["example"] for f in meta["features"]}}]}
        assert client.post("/v1/models/cad_risk/predict", json=body,
                           headers=auth(api_keys["clinician"])).status_code == 200
    assert calls == []
