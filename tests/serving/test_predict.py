"""The serving contract: metadata a client can build requests from, explained predictions that add up."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xgboost as xgb
from fastapi.testclient import TestClient

from kernel.settings import Settings
from serving.flags import assess
from serving.risk.answer import _assessed
from tests.serving.conftest import CANARY, auth


def _example_body(client: TestClient, key: str, n: int = 1) -> tuple[dict, list[dict]]:
    meta = client.get("/v1/models/cad_risk", headers=auth(key)).json()
    values = {f["name"]: f["example"] for f in meta["features"]}
    return {"patients": [{"patient_id": f"p{i}", "features": dict(values)} for i in range(n)]}, meta["features"]


def test_model_metadata_lists_valid_examples(client: TestClient, api_keys: dict[str, str]) -> None:
    body = client.get("/v1/models", headers=auth(api_keys["application"])).json()
    assert body["models"] == [{"name": "cad_risk", "version": "1", "alias": "champion"}]
    _, features = _example_body(client, api_keys["application"])
    for f in features:
        assert f["min"] <= f["example"] <= f["max"]
        assert {"name", "unit", "display_name", "min", "max"} <= set(f)


def test_prediction_is_calibrated_and_explanation_adds_up(client: TestClient, api_keys: dict[str, str],
                                                          trained_home: Settings) -> None:
    body, features = _example_body(client, api_keys["clinician"], n=3)
    body["patients"][1]["features"]["age_years"] = 75
    body["patients"][2]["features"]["ldl_mg_dl"] = None
    response = client.post("/v1/models/cad_risk/predict", json=body, headers=auth(api_keys["clinician"]))
    assert response.status_code == 200, response.text
    out = response.json()
    assert (out["model"], out["version"]) == ("cad_risk", "1")
    booster = client.app.state.store.get("cad_risk").bundle.booster
    names = [f["name"] for f in features]
    X = np.array([[np.nan if p["features"][n] is None else p["features"][n] for n in names]
                  for p in body["patients"]], dtype=float)
    margins = booster.predict(xgb.DMatrix(X, missing=np.nan), output_margin=True)
    calibrator = client.app.state.store.get("cad_risk").bundle.calibrator
    for prediction, margin in zip(out["predictions"], margins, strict=True):
        explanation = prediction["explanation"]
        total = explanation["base_value"] + sum(c["contribution"] for c in explanation["contributions"])
        assert total == pytest.approx(margin, abs=1e-4)
        assert prediction["risk"] == pytest.approx(float(calibrator.predict(np.array([margin]))[0]), abs=1e-6)
        assert 0 <= prediction["risk"] <= 1
        assert len(explanation["contributions"]) == len(names)
    assert out["predictions"][2]["missing_features"] == ["ldl_mg_dl"]
    assert out["predictions"][1]["risk"] > out["predictions"][0]["risk"]  # older, all else equal


def test_explain_false_gives_the_same_risk_and_flags_without_an_explanation(
        client: TestClient, api_keys: dict[str, str], trained_home: Settings) -> None:
    body, features = _example_body(client, api_keys["application"], n=3)
    body["patients"][1]["features"].update(age_years=78, ldl_mg_dl=None)  # older, one value missing
    optional = [f["name"] for f in features if not f["required"]]
    body["patients"][2]["features"].update(dict.fromkeys(optional))  # too much missing: abstains
    url = "/v1/models/cad_risk/predict"
    full = client.post(url, json=body, headers=auth(api_keys["application"])).json()["predictions"]
    audit_file = trained_home.audit_dir / "predictions.jsonl"
    audited = len(audit_file.read_text().splitlines())
    response = client.post(f"{url}?explain=false", json=body, headers=auth(api_keys["application"]))
    assert response.status_code == 200, response.text
    bare = response.json()["predictions"]
    assert [p["risk"] for p in bare[:2]] == pytest.approx([p["risk"] for p in full[:2]], abs=1e-6)
    assert bare[1]["risk"] > bare[0]["risk"]
    for lean, explained in zip(bare, full, strict=True):
        assert lean["explanation"] is None and lean["risk_points"] is None and lean["concepts"] == []
        for same in ("risk_category", "missing_features", "flags", "abstained", "abstain_reason", "horizon_years"):
            assert lean[same] == explained[same], same
    assert full[0]["explanation"]["contributions"] and full[0]["concepts"]
    assert bare[2]["abstained"] and bare[2]["risk"] is None
    assert len(audit_file.read_text().splitlines()) == audited + 3  # audited like any prediction


def test_flag_shortcut_agrees_with_the_full_assessment(client: TestClient) -> None:
    """Rows inside every flag bound skip the per-feature walk; on and around each bound the answer is
    the same as ``serving.flags.assess`` gives."""
    model = client.app.state.store.get("cad_risk")
    features = model.features
    rng = np.random.default_rng(3)
    edges = [[f.min, f.max, f.training_min, f.training_max, *f.training_quantiles.values()] for f in features]
    skipped = 0
    for _ in range(400):
        row = np.array([rng.choice([v for v in e if v is not None]) + rng.choice([-1e-6, 0.0, 0.0, 1e-6])
                        if rng.random() < 0.05 else f.training_quantiles.get("p50", f.example)
                        for f, e in zip(features, edges, strict=True)], dtype=float)
        row[rng.random(len(row)) < 0.02] = np.nan
        missing, fast = _assessed(model, row)
        full = assess(model.spec, row)
        assert (fast.flags, fast.abstain_reason) == (full.flags, full.abstain_reason)
        assert missing == [f.name for f, v in zip(features, row, strict=True) if np.isnan(v)]
        skipped += not fast.flags
    assert skipped > 20  # rows the shortcut answers were among those compared


def test_contributions_equal_shap_tree_explainer(client: TestClient, api_keys: dict[str, str]) -> None:
    shap = pytest.importorskip("shap")
    body, features = _example_body(client, api_keys["clinician"])
    out = client.post("/v1/models/cad_risk/predict", json=body, headers=auth(api_keys["clinician"])).json()
    booster = client.app.state.store.get("cad_risk").bundle.booster
    X = np.array([[f["example"] for f in features]])
    expected = shap.TreeExplainer(booster).shap_values(X)[0]
    got = {c["feature"]: c["contribution"] for c in out["predictions"][0]["explanation"]["contributions"]}
    assert [got[f["name"]] for f in features] == pytest.approx(expected.tolist(), abs=1e-4)


def test_credential_is_required(client: TestClient, api_keys: dict[str, str]) -> None:
    body, _ = _example_body(client, api_keys["application"])
    assert client.post("/v1/models/cad_risk/predict", json=body).status_code == 401
    assert client.post("/v1/models/cad_risk/predict", json=body, headers=auth("wrong-key")).status_code == 401
    assert client.get("/v1/models").status_code == 401
    forbidden = client.post("/v1/models/cad_risk/predict", json=body, headers=auth(api_keys["data_scientist"]))
    assert forbidden.status_code == 403


@pytest.mark.parametrize(("bad_value", "rule"), [(CANARY, "valid number"), (9999.0, "less than or equal"),
                                               (True, "valid number")])
def test_invalid_value_is_named_without_echo(client: TestClient, api_keys: dict[str, str], bad_value: object,
                                             rule: str) -> None:
    body, _ = _example_body(client, api_keys["application"])
    body["patients"][0]["patient_id"] = CANARY + "-ID"
    body["patients"][0]["features"]["ldl_mg_dl"] = bad_value
    response = client.post("/v1/models/cad_risk/predict", json=body, headers=auth(api_keys["application"]))
    assert response.status_code == 422
    assert CANARY not in response.text and "9999" not in response.text
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", "patients", 0, "features", "ldl_mg_dl"]
    assert rule in detail[0]["msg"]


def test_unknown_and_missing_required_features_are_rejected(client: TestClient, api_keys: dict[str, str]) -> None:
    body, _ = _example_body(client, api_keys["application"])
    del body["patients"][0]["features"]["age_years"]
    body["patients"][0]["features"]["shoe_size"] = 44
    response = client.post("/v1/models/cad_risk/predict", json=body, headers=auth(api_keys["application"]))
    assert response.status_code == 422
    problems = {tuple(e["loc"][-1:]): e["msg"] for e in response.json()["detail"]}
    assert problems[("age_years",)] == "Field required"
    assert "not permitted" in problems[("shoe_size",)]


def test_malformed_json_body_is_a_422_without_echo(client: TestClient, api_keys: dict[str, str]) -> None:
    response = client.post("/v1/models/cad_risk/predict", content=b'{"patients": [' + CANARY.encode(),
                           headers={**auth(api_keys["application"]), "Content-Type": "application/json"})
    assert response.status_code == 422
    assert CANARY not in response.text


def test_batch_limit(client: TestClient, api_keys: dict[str, str], trained_home: Settings) -> None:
    body, _ = _example_body(client, api_keys["application"], n=trained_home.max_batch_patients + 1)
    response = client.post("/v1/models/cad_risk/predict", json=body, headers=auth(api_keys["application"]))
    assert response.status_code == 422
    assert "at most" in response.json()["detail"][0]["msg"]


def test_unknown_model_is_404(client: TestClient, api_keys: dict[str, str]) -> None:
    assert client.get("/v1/models/no_such_model", headers=auth(api_keys["application"])).status_code == 404


def test_every_prediction_is_audited_without_identifiers(client: TestClient, api_keys: dict[str, str],
                                                         trained_home: Settings) -> None:
    audit_file = trained_home.audit_dir / "predictions.jsonl"
    before = audit_file.read_text().splitlines() if audit_file.exists() else []
    body, _ = _example_body(client, api_keys["application"], n=2)
    body["patients"][0]["patient_id"] = CANARY + "-MRN"
    out = client.post("/v1/models/cad_risk/predict", json=body, headers=auth(api_keys["application"])).json()
    lines = audit_file.read_text().splitlines()[len(before):]
    records = [json.loads(line) for line in lines]
    assert len(records) == 2
    assert {r["request_id"] for r in records} == {out["request_id"]}
    assert all(r["version"] == "1" and r["model"] == "cad_risk" and r["role"] == "application" for r in records)
    assert all(r["key_id"].startswith("key_") for r in records)
    assert len({r["patient_key"] for r in records}) == 2
    assert CANARY not in audit_file.read_text()


def test_model_card_of_the_served_version(client: TestClient, api_keys: dict[str, str]) -> None:
    html = client.get("/v1/models/cad_risk/card", headers=auth(api_keys["clinician"]))
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert "Model card: cad_risk" in html.text and "Intended use" in html.text
    assert "data:image/png;base64," in html.text  # self-contained: figures embedded
    markdown = client.get("/v1/models/cad_risk/card?format=markdown", headers=auth(api_keys["data_scientist"]))
    assert markdown.status_code == 200 and markdown.text.startswith("# Model card: cad_risk")
    assert client.get("/v1/models/cad_risk/card").status_code == 401
