"""A survival model served through ``create_app``: risk at the horizon, explained exactly in log hazard ratio.

Also the one edit outside the survival files: ``serving.treeshap`` knows ``survival:cox``'s link (its stored
base score enters the margin as its log), so the path tables reproduce ``pred_contribs`` and add up to the
margin.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from fastapi.testclient import TestClient

from kernel.settings import Settings
from serving.auth import issue_key
from serving.openapi import pascal
from serving.treeshap import PathTables
from tests.serving.conftest import auth
from tests.serving.helpers import ready_client
from tests.training.test_survival import VETERAN_SPEC, veteran_table, write_spec
from training.pipeline import train_from_spec

NAME = VETERAN_SPEC["name"]


def test_path_tables_are_exact_and_additive_for_a_cox_booster() -> None:
    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 5))
    X[rng.random(X.shape) < 0.1] = np.nan
    time = rng.exponential(np.exp(-np.nan_to_num(X[:, 0]) + 0.5 * np.nan_to_num(X[:, 1]))) + 0.01
    label = np.where(rng.random(600) < 0.7, time, -time)
    booster = xgb.train({"objective": "survival:cox", "max_depth": 3, "eta": 0.1, "nthread": 1, "seed": 0},
                        xgb.DMatrix(X, label=label, missing=np.nan), 60)
    tables = PathTables.from_booster(booster)  # raises UnsupportedBooster for an objective it does not know
    contributions = tables.contributions(X[:200])
    reference = booster.predict(xgb.DMatrix(X[:200], missing=np.nan), pred_contribs=True)
    margin = booster.predict(xgb.DMatrix(X[:200], missing=np.nan), output_margin=True)
    assert np.max(np.abs(contributions - reference)) < 1e-5
    assert np.max(np.abs(contributions.sum(axis=1) - margin)) < 1e-4
    assert np.allclose(booster.predict(xgb.DMatrix(X[:200], missing=np.nan)), np.exp(margin), rtol=1e-5)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, str]]]:
    root = tmp_path_factory.mktemp("survival-serving")
    settings = Settings(home=root / ".pmed", served_models=[NAME], _env_file=None)
    outcome = train_from_spec(write_spec(root, VETERAN_SPEC), None, settings, table=veteran_table(root / "v.csv"))
    assert outcome.promoted
    key = issue_key(settings.keys_file, "survival-app", "application")[1]
    with ready_client(settings) as client:
        yield client, auth(key)


def test_model_info_names_the_task_horizon_and_log_hazard_scale(served: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = served
    meta = client.get(f"/v1/models/{NAME}", headers=headers).json()
    assert meta["task"] == "survival" and meta["explanation_scale"].startswith("log hazard ratio")
    assert meta["horizon_years"] == pytest.approx(180 / 365.25)
    assert meta["calibration"]["method"] == "breslow_horizon" and meta["calibration"]["horizon_days"] == 180
    assert [f["name"] for f in meta["features"]] == VETERAN_SPEC["features"]


def _patients(client: TestClient, headers: dict[str, str]) -> tuple[dict[str, object], dict[str, object]]:
    meta = client.get(f"/v1/models/{NAME}", headers=headers).json()
    typical = {f["name"]: f["example"] for f in meta["features"]}
    frail = {**typical, "Karnofsky_score": 20.0, "Celltype_smallcell": 1, "Celltype_squamous": 0}
    return typical, frail


def test_predict_answers_the_risk_at_the_horizon_explained_in_log_hazard(
        served: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = served
    typical, frail = _patients(client, headers)
    body = {"patients": [{"patient_id": "a", "features": typical}, {"patient_id": "b", "features": frail}]}
    out = client.post(f"/v1/models/{NAME}/predict", json=body, headers=headers)
    assert out.status_code == 200, out.text
    answer = out.json()
    assert answer["task"] == "survival" and answer["horizon_days"] == 180
    assert answer["explanation_scale"].startswith("log hazard ratio")
    calibration = client.get(f"/v1/models/{NAME}", headers=headers).json()["calibration"]
    for p in answer["predictions"]:
        explanation = p["explanation"]
        assert explanation["scale"].startswith("log hazard ratio") and p["horizon_days"] == 180
        total = explanation["base_value"] + sum(c["contribution"] for c in explanation["contributions"])
        assert total == pytest.approx(explanation["margin"], abs=1e-4)
        hazard = calibration["cumulative_hazard"] * np.exp(calibration["slope"] * explanation["margin"])
        assert p["risk"] == pytest.approx(1 - np.exp(-hazard), abs=1e-9)
        assert p["risk_percent"] == pytest.approx(round(100 * p["risk"], 2))
        assert all("180-day risk" in c["sentence"] for c in p["concepts"] if c["risk_points"])
    assert answer["predictions"][1]["risk"] > answer["predictions"][0]["risk"]  # a Karnofsky of 20 is grave


def test_explain_false_and_abstention_follow_the_risk_task(served: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = served
    typical, _ = _patients(client, headers)
    body = {"patients": [{"patient_id": "a", "features": typical},
                         {"patient_id": "m", "features": dict.fromkeys(typical)}]}
    out = client.post(f"/v1/models/{NAME}/predict?explain=false", json=body, headers=headers).json()
    full, empty = out["predictions"]
    assert full["explanation"] is None and 0 < full["risk"] < 1
    assert empty["abstained"] and empty["risk"] is None and empty["horizon_days"] == 180


def test_openapi_documents_the_survival_model(served: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = served
    doc = client.get("/openapi.json").json()
    path = f"/v1/models/{NAME}/predict"
    assert path in doc["paths"] and f"/v1/models/{NAME}/what-if" not in doc["paths"]
    assert "SurvivalPredictionResponse" in str(doc["paths"][path]["post"]["responses"]["200"])
    assert f"{pascal(NAME)}" in str(doc["paths"][path]["post"]["requestBody"])
    assert client.post(f"/v1/models/{NAME}/what-if", json={}, headers=headers).status_code in (404, 422)


def test_the_bundle_must_carry_the_horizon_calibrator(tmp_path: Path) -> None:
    from kernel.bundle import read_bundle, write_bundle
    from kernel.calibration import SigmoidCalibrator
    from serving.served import TaskRefusal
    from serving.survival import TASK
    from tests.serving.helpers import toy_artifact

    booster = xgb.train({"objective": "survival:cox"}, xgb.DMatrix(np.array([[0.0], [1.0]]), label=[1.0, -2.0]), 1)
    artifact = toy_artifact([{"name": "x"}], task="survival", horizon_days=180, time_column="t", event_column="e")
    write_bundle(tmp_path / "b", booster, SigmoidCalibrator(), artifact)
    with pytest.raises(TaskRefusal, match="breslow_horizon"):
        TASK.check(read_bundle(tmp_path / "b"))
