"""Limits (413 / 422 / 503), Prometheus metrics, and canaries: no patient value in any log or error body."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from kernel.settings import Settings
from serving.app import create_app
from serving.audit import AuditLog
from tests.serving.conftest import auth
from tests.serving.helpers import metric_value, wait_for

CANARY_ID = "CANARY-ID-5d1e77"
CANARY_VALUE = 123.4567891  # a valid LDL, unlike any real lab value's precision
CANARY_BAD = 98765.4321  # out of range
CANARY_TEXT = "CANARY-TEXT-93b1"


@pytest.fixture(scope="module")
def small(trained_home: Settings, api_keys: dict[str, str]) -> Iterator[TestClient]:
    """An app with tight limits: 64 KiB bodies, 2 predictions at once."""
    settings = trained_home.model_copy(update={"max_body_bytes": 64 * 1024, "max_concurrent_predictions": 2})
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/ready").status_code == 200, what="model loaded")
        yield client


def _body(client: TestClient, key: str, n: int = 1) -> dict:
    meta = client.get("/v1/models/cad_risk", headers=auth(key)).json()
    values = {f["name"]: f["example"] for f in meta["features"]}
    return {"patients": [{"patient_id": f"p{i}", "features": dict(values)} for i in range(n)]}


def test_body_over_the_limit_is_413_by_length_and_by_streamed_bytes(small: TestClient,
                                                                    api_keys: dict[str, str]) -> None:
    headers = {**auth(api_keys["application"]), "Content-Type": "application/json"}
    big = json.dumps(_body(small, api_keys["application"], n=400)).encode()
    assert len(big) > 64 * 1024
    declared = small.post("/v1/models/cad_risk/predict", content=big, headers=headers)
    assert declared.status_code == 413 and "larger than 65536 bytes" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for start in range(0, len(big), 8192):
            yield big[start:start + 8192]

    streamed = small.post("/v1/models/cad_risk/predict", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    fits = small.post("/v1/models/cad_risk/predict", json=_body(small, api_keys["application"], n=20),
                      headers=auth(api_keys["application"]))
    assert fits.status_code == 200


def test_batch_over_the_limit_is_422(small: TestClient, api_keys: dict[str, str]) -> None:
    client = TestClient(create_app(small.app.state.settings.model_copy(update={"max_batch_patients": 5})))
    with client:
        wait_for(lambda: client.get("/ready").status_code == 200, what="model loaded")
        response = client.post("/v1/models/cad_risk/predict", json=_body(client, api_keys["application"], n=6),
                               headers=auth(api_keys["application"]))
    assert response.status_code == 422 and "at most 5 patients" in response.json()["detail"][0]["msg"]


def test_predictions_beyond_the_concurrency_cap_get_503_with_retry_after(small: TestClient,
                                                                         api_keys: dict[str, str]) -> None:
    slots = small.app.state.prediction_slots
    body = _body(small, api_keys["application"])
    assert slots.try_acquire() and slots.try_acquire()  # two predictions in flight: the cap
    try:
        busy = small.post("/v1/models/cad_risk/predict", json=body, headers=auth(api_keys["application"]))
    finally:
        slots.release()
        slots.release()
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "1"
    assert "2 predictions already in progress" in busy.json()["detail"]
    answered = small.post("/v1/models/cad_risk/predict", json=body, headers=auth(api_keys["application"]))
    assert answered.status_code == 200
    assert slots.in_flight == 0  # every slot handed back, after successes and refusals alike


def test_metrics_count_requests_per_model_version(small: TestClient, api_keys: dict[str, str]) -> None:
    headers = auth(api_keys["data_scientist"])
    before = small.get("/metrics", headers=headers).text
    body = _body(small, api_keys["application"], n=3)
    small.post("/v1/models/cad_risk/predict", json=body, headers=auth(api_keys["application"]))
    body["patients"][0]["features"]["ldl_mg_dl"] = CANARY_BAD
    small.post("/v1/models/cad_risk/predict", json=body, headers=auth(api_keys["application"]))
    response = small.get("/metrics", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = response.text
    route = {"route": "/v1/models/{name}/predict", "model": "cad_risk", "version": "1"}

    def grew(name: str, **labels: str) -> float:
        return metric_value(after, name, **labels) - metric_value(before, name, **labels)

    assert grew("pmed_http_requests_total", status="200", **route) == 1
    assert grew("pmed_http_requests_total", status="422", **route) == 1
    assert grew("pmed_http_request_duration_seconds_count", **route) == 2
    assert grew("pmed_predicted_patients_total", model="cad_risk", version="1") == 3
    assert metric_value(after, "pmed_model_served_info", model="cad_risk", alias="champion", version="1") == 1
    assert str(CANARY_BAD) not in after and "p0" not in after


def test_no_prediction_leaves_when_audit_cannot_be_written(small: TestClient, api_keys: dict[str, str],
                                                           tmp_path: Path) -> None:
    body = _body(small, api_keys["clinician"])
    body["patients"][0]["patient_id"] = CANARY_ID
    working = small.app.state.audit
    small.app.state.audit = AuditLog(tmp_path, b"k" * 32)  # a directory: every append fails, even as root
    try:
        response = small.post("/v1/models/cad_risk/predict", json=body, headers=auth(api_keys["clinician"]))
    finally:
        small.app.state.audit = working
    assert response.status_code == 503 and "audit" in response.json()["detail"]
    assert "risk" not in response.text and CANARY_ID not in response.text
    metrics = small.get("/metrics", headers=auth(api_keys["data_scientist"])).text
    assert metric_value(metrics, "pmed_audit_failures_total") >= 1


def test_canaries_never_reach_logs_error_bodies_or_audit(small: TestClient, api_keys: dict[str, str],
                                                         trained_home: Settings,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # root: pmed, fastapi, starlette, uvicorn, httpx, mlflow, everything
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi", "starlette", "pmed"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    key = auth(api_keys["clinician"])
    valid = _body(small, api_keys["clinician"], n=2)
    valid["patients"][0]["patient_id"] = CANARY_ID
    valid["patients"][0]["features"]["ldl_mg_dl"] = CANARY_VALUE
    invalid = json.loads(json.dumps(valid))
    invalid["patients"][1]["patient_id"] = CANARY_ID + "-2"
    invalid["patients"][1]["features"]["hdl_mg_dl"] = CANARY_BAD
    invalid["patients"][0]["features"]["age_years"] = CANARY_TEXT
    oversized = json.loads(json.dumps(valid))
    oversized["patients"] *= 300
    wrong_shape = {"patients": [{"patient_id": CANARY_ID, "features": {"ldl_mg_dl": CANARY_VALUE},
                                 "note": CANARY_TEXT}]}
    ok = small.post("/v1/models/cad_risk/predict", json=valid, headers=key)
    assert ok.status_code == 200 and CANARY_ID in ok.text  # the caller gets its own reference back
    errors = [
        small.post("/v1/models/cad_risk/predict", json=invalid, headers=key),
        small.post("/v1/models/cad_risk/predict", json=oversized, headers=key),
        small.post("/v1/models/cad_risk/predict", json=wrong_shape, headers=key),
        small.post("/v1/models/cad_risk/predict", content=json.dumps(valid)[:-7].encode(),
                   headers={**key, "Content-Type": "application/json"}),
        small.post("/v1/models/cad_risk/predict", json=valid),  # no key
        small.post("/v1/models/cad_risk/predict", json=valid, headers=auth(api_keys["data_scientist"])),
        small.post("/v1/models/cad_risk/predict", data={"patient_id": CANARY_ID}, headers=key),  # form, not JSON
    ]
    assert [r.status_code for r in errors] == [422, 413, 422, 422, 401, 403, 422]
    audit = (trained_home.audit_dir / "predictions.jsonl").read_text()
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records, "the requests were logged"
    for canary in (CANARY_ID, str(CANARY_VALUE), str(CANARY_BAD), CANARY_TEXT):
        assert canary not in logged
        assert canary not in audit
        for response in errors:
            assert canary not in response.text, response.status_code
