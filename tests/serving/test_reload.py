"""Hot reload against a real MLflow registry: the alias moves under load, tampered versions are refused,
and a shadow (challenger) version is scored beside the champion without reaching the caller."""

from __future__ import annotations

import json
import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from kernel.model_registry import registry_client
from kernel.settings import Settings
from serving.app import create_app
from serving.auth import issue_key
from serving.registry import load_version
from tests.conftest import REPO, write_feature_table
from tests.serving.conftest import auth
from tests.serving.helpers import (
    example_rows,
    metric_value,
    registered_booster,
    serve_in_thread,
    tampered,
    wait_for,
)
from training.pipeline import train_from_spec

pytestmark = pytest.mark.slow
MODEL = "cad_risk"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two registered versions of cad_risk, trained on different cohorts, with their own expected risks."""
    root = tmp_path_factory.mktemp("reload")
    settings = Settings(home=root / ".pmed", served_models=[MODEL], reload_seconds=0.05, _env_file=None)
    for seed in (11, 12):
        train_from_spec(REPO / "models" / f"{MODEL}.yaml", write_feature_table(root / f"f{seed}", n=3000, seed=seed),
                        settings)
    client = registry_client(settings)
    bundles = {}
    with tempfile.TemporaryDirectory() as tmp:
        for version in ("1", "2"):
            bundles[version] = load_version(client, MODEL, version, "test", Path(tmp)).bundle
    patients, X = example_rows(bundles["1"].spec.features, n=3)
    expected = {v: b.risk(X) for v, b in bundles.items()}
    assert not np.allclose(expected["1"], expected["2"], atol=1e-4), "versions must be told apart by risk"
    keys = {role: issue_key(settings.keys_file, f"t-{role}", role)[1]
            for role in ("clinician", "application", "data_scientist")}
    return {"settings": settings, "client": client, "patients": patients, "expected": expected, "keys": keys}


def _point(registry: dict, alias: str, version: str) -> None:
    registry["client"].set_registered_model_alias(MODEL, alias, version)


@pytest.fixture
def champion_v1(registry: dict) -> Iterator[None]:
    _point(registry, "champion", "1")
    yield
    _point(registry, "champion", "1")


def _check(registry: dict, body: dict) -> str:
    """The response names one version, and every risk in it is that version's risk."""
    version = body["version"]
    risks = [p["risk"] for p in body["predictions"]]
    assert risks == pytest.approx(registry["expected"][version].tolist(), abs=1e-6), version
    return version


def test_alias_moves_ten_times_under_load_without_a_failed_request(registry: dict, champion_v1: None) -> None:
    app = create_app(registry["settings"])
    payload = {"patients": registry["patients"]}
    headers = auth(registry["keys"]["application"])
    outcomes: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def generate_load(base: str) -> None:
        with httpx.Client(base_url=base, timeout=30) as http:
            while not stop.is_set():
                response = http.post(f"/v1/models/{MODEL}/predict", json=payload, headers=headers)
                outcomes.append((response.status_code, _check(registry, response.json())
                                 if response.status_code == 200 else response.text))

    with serve_in_thread(app) as base:
        wait_for(lambda: httpx.get(f"{base}/ready").status_code == 200, what="first load")
        workers = [threading.Thread(target=generate_load, args=(base,)) for _ in range(4)]
        for w in workers:
            w.start()
        served = []
        for move in range(10):
            target = "2" if move % 2 == 0 else "1"
            _point(registry, "champion", target)
            wait_for(lambda t=target: app.state.store.get(MODEL).version == t, what=f"swap to {target}")
            done = len(outcomes)
            wait_for(lambda d=done: len(outcomes) >= d + 8, what="requests on the new version")
            served.append(target)
        stop.set()
        for w in workers:
            w.join(timeout=30)
        metrics = httpx.get(f"{base}/metrics", headers=auth(registry["keys"]["data_scientist"])).text
    failed = [o for o in outcomes if o[0] != 200]
    assert failed == [] and len(outcomes) >= 80
    assert {v for _, v in outcomes} == {"1", "2"}
    assert metric_value(metrics, "pmed_model_reloads_total", model=MODEL, alias="champion", result="loaded") == 11
    assert metric_value(metrics, "pmed_model_served_info", model=MODEL, alias="champion", version="1") == 1
    assert metric_value(metrics, "pmed_model_served_info", model=MODEL, alias="champion", version="2") == 0


def test_tampered_version_is_refused_and_the_previous_one_keeps_serving(
        registry: dict, champion_v1: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    keys = registry["keys"]
    settings = registry["settings"].model_copy(update={"reload_seconds": 0})  # only forced polls after start
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/ready").status_code == 200, what="first load")
        with tampered(registered_booster(registry["client"], MODEL, "2")):
            _point(registry, "champion", "2")
            report = client.post(f"/v1/models/{MODEL}/reload", headers=auth(keys["data_scientist"]))
            assert report.status_code == 200
            champion = next(r for r in report.json()["results"] if r["alias"] == "champion")
            assert (champion["result"], champion["version"]) == ("refused", "1")
            assert "booster.ubj does not match its SHA-256" in champion["detail"]
            assert client.get("/ready").status_code == 200
            response = client.post(f"/v1/models/{MODEL}/predict", json={"patients": registry["patients"]},
                                   headers=auth(keys["clinician"]))
            assert response.status_code == 200 and _check(registry, response.json()) == "1"
        refusals = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
        assert refusals and "still serving version 1" in refusals[0]
        metrics = client.get("/metrics", headers=auth(keys["data_scientist"])).text
        assert metric_value(metrics, "pmed_model_reloads_total", model=MODEL, result="refused") >= 1
        # the artifact is repaired: a forced reload retries the version that was refused
        report = client.post(f"/v1/models/{MODEL}/reload", headers=auth(keys["data_scientist"])).json()
        assert next(r for r in report["results"] if r["alias"] == "champion")["version"] == "2"


def test_ready_is_503_while_no_valid_version_exists(registry: dict, champion_v1: None) -> None:
    keys = registry["keys"]
    with tampered(registered_booster(registry["client"], MODEL, "2")):
        _point(registry, "champion", "2")
        with TestClient(create_app(registry["settings"])) as client:
            def refusals() -> float:
                text = client.get("/metrics", headers=auth(keys["data_scientist"])).text
                return metric_value(text, "pmed_model_reloads_total", result="refused")

            wait_for(lambda: refusals() >= 1, what="refusal")
            time.sleep(0.5)  # about ten more background polls: the refused version is not fetched again
            assert refusals() == 1
            assert client.get("/ready").status_code == 503
            response = client.post(f"/v1/models/{MODEL}/predict", json={"patients": registry["patients"]},
                                   headers=auth(keys["application"]))
            assert response.status_code == 503 and "not loaded" in response.json()["detail"]
            _point(registry, "champion", "1")
            wait_for(lambda: client.get("/ready").status_code == 200, what="valid version loaded")


def test_challenger_is_scored_in_shadow_and_never_returned(registry: dict, champion_v1: None) -> None:
    settings = registry["settings"].model_copy(update={"shadow_alias": "challenger"})
    keys = registry["keys"]
    _point(registry, "challenger", "2")
    audit_file = settings.audit_dir / "predictions.jsonl"
    try:
        with TestClient(create_app(settings)) as client:
            wait_for(lambda: client.app.state.store.shadow(MODEL) is not None, what="challenger loaded")
            info = client.get(f"/v1/models/{MODEL}", headers=auth(keys["data_scientist"])).json()
            assert (info["version"], info["shadow"]) == ("1", {"name": MODEL, "version": "2", "alias": "challenger"})
            before = len(audit_file.read_text().splitlines()) if audit_file.exists() else 0
            response = client.post(f"/v1/models/{MODEL}/predict", json={"patients": registry["patients"]},
                                   headers=auth(keys["clinician"]))
            assert response.status_code == 200 and _check(registry, response.json()) == "1"
            assert "challenger" not in response.text and "shadow" not in response.text
            records = [json.loads(line) for line in audit_file.read_text().splitlines()[before:]]
            assert [r["shadow"]["version"] for r in records] == ["2"] * 3
            assert [r["shadow"]["risk"] for r in records] == pytest.approx(registry["expected"]["2"], abs=1e-5)
            assert [r["shadow"]["served_risk"] for r in records] == pytest.approx(registry["expected"]["1"], abs=1e-5)
            metrics = client.get("/metrics", headers=auth(keys["data_scientist"])).text
            assert metric_value(metrics, "pmed_shadow_predictions_total", shadow_version="2", result="scored") == 3
            assert metric_value(metrics, "pmed_shadow_risk_abs_difference_count", version="1") == 3
            registry["client"].delete_registered_model_alias(MODEL, "challenger")
            client.post(f"/v1/models/{MODEL}/reload", headers=auth(keys["data_scientist"]))
            assert client.get(f"/v1/models/{MODEL}", headers=auth(keys["clinician"])).json()["shadow"] is None
    finally:
        if "challenger" in registry["client"].get_registered_model(MODEL).aliases:
            registry["client"].delete_registered_model_alias(MODEL, "challenger")
