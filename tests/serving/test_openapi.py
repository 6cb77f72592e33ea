"""The OpenAPI document as a client generator reads it: each served model's request body is its own schema
(names, units, ranges, required, an example) that agrees with what the server accepts; model names are an
enum; the API key is described; and the document follows a reload to a version with other features."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, seed, settings
from jsonschema import Draft202012Validator
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from features.sim.trial import simulate_trial
from kernel.model_registry import registry_client
from kernel.settings import Settings
from serving.app import PUBLIC_PATHS, route_roles
from serving.auth import issue_key
from serving.openapi import pascal
from tests.conftest import REPO, write_feature_table
from tests.serving.conftest import auth
from tests.serving.helpers import ready_client
from training.pipeline import train_from_spec
from training.tracking import configure_mlflow, set_alias
from training.treatment.effect import LearnerParams
from training.treatment.pipeline import MODEL_NAME, fit_and_evaluate, register

REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def doc(client: TestClient) -> dict:
    response = client.get("/openapi.json")
    assert response.status_code == 200  # open, like /docs: a generator needs no key to read it
    return response.json()


@pytest.fixture(scope="module")
def served_features(client: TestClient, api_keys: dict[str, str]) -> list[dict]:
    return client.get("/v1/models/cad_risk", headers=auth(api_keys["application"])).json()["features"]


def _schema(doc: dict, ref: str) -> dict:
    assert ref.startswith(REF), ref
    return doc["components"]["schemas"][ref.removeprefix(REF)]


def _body(doc: dict, path: str) -> tuple[dict, dict]:
    """The request schema of POST ``path`` and its documented example."""
    content = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return _schema(doc, content["schema"]["$ref"]), content["example"]


def _validator(doc: dict, name: str) -> Draft202012Validator:
    """A validator of ``components.schemas[name]`` that resolves the document's own references."""
    return Draft202012Validator({"$ref": REF + name, "components": doc["components"]})


def test_cad_risk_request_lists_each_feature_with_unit_range_and_required(doc: dict, served_features: list) -> None:
    request, _ = _body(doc, "/v1/models/cad_risk/predict")
    assert request["title"] == "CadRiskPredictionRequest"
    patient = _schema(doc, request["properties"]["patients"]["items"]["$ref"])
    features = _schema(doc, patient["properties"]["features"]["$ref"])
    assert features["title"] == "CadRiskFeatures" and features["additionalProperties"] is False
    assert list(features["properties"]) == [f["name"] for f in served_features]
    assert set(features["required"]) == {f["name"] for f in served_features if f["required"]}
    for f in served_features:
        prop = features["properties"][f["name"]]
        number = prop if "type" in prop else next(s for s in prop["anyOf"] if s["type"] != "null")
        assert f["display_name"] in prop["description"] and f"({f['unit']})" in prop["description"]
        assert prop["x-unit"] == f["unit"]
        assert (number["minimum"], number["maximum"]) == (f["min"], f["max"])
        assert number["type"] == ("integer" if f["kind"] in ("binary", "count") else "number")
        assert ("anyOf" in prop) == (not f["required"])  # optional: null (not recorded) is allowed


def test_documented_examples_fit_the_schema_and_the_server_accepts_them(doc: dict, client: TestClient,
                                                                       api_keys: dict[str, str]) -> None:
    for action, answer in (("predict", "PredictionResponse"), ("what-if", "WhatIfResponse")):
        path = f"/v1/models/cad_risk/{action}"
        request, example = _body(doc, path)
        _validator(doc, request["title"]).validate(example)
        response = client.post(path, json=example, headers=auth(api_keys["application"]))
        assert response.status_code == 200, response.text
        _validator(doc, answer).validate(response.json())


def test_what_the_schema_refuses_the_server_refuses(doc: dict, client: TestClient, api_keys: dict[str, str],
                                                   served_features: list) -> None:
    request, example = _body(doc, "/v1/models/cad_risk/predict")
    validator = _validator(doc, request["title"])
    patient = example["patients"][0]
    wrong = [{**patient["features"], "not_a_feature": 1.0},
             {k: v for k, v in patient["features"].items() if k != "age_years"}]
    wrong += [{**patient["features"], f["name"]: f["max"] + 1} for f in served_features]
    for features in wrong:
        body = {"patients": [{**patient, "features": features}]}
        assert not validator.is_valid(body)
        assert client.post("/v1/models/cad_risk/predict", json=body,
                           headers=auth(api_keys["application"])).status_code == 422


def test_typed_operations_follow_the_models_task(doc: dict) -> None:
    predict = doc["paths"]["/v1/models/cad_risk/predict"]["post"]
    assert predict["operationId"] == "predict_cad_risk" and predict["tags"] == ["cad_risk"]
    assert all(p["name"] != "name" for p in predict.get("parameters", []))
    assert [p["name"] for p in predict["parameters"]] == ["explain"]
    assert predict["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": REF + "PredictionResponse"}
    assert "/v1/models/cad_risk/compare-treatments" not in doc["paths"]  # a risk model compares no treatments
    changes = _schema(doc, _body(doc, "/v1/models/cad_risk/what-if")[0]["properties"]["changes"]["$ref"])
    assert set(changes["properties"]) == {"current_smoker", "pack_years", "ldl_mg_dl", "sbp_mm_hg", "hba1c_pct"}
    assert "/v1/models/{name}/predict" in doc["paths"]  # the generic operation stays
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_model_names_are_an_enum_of_the_served_models(doc: dict) -> None:
    assert doc["components"]["schemas"]["ModelName"]["enum"] == ["cad_risk"]
    named = [(path, method) for path, ops in doc["paths"].items() for method, op in ops.items()
             if any(p["name"] == "name" and p["in"] == "path" for p in op.get("parameters", []))]
    assert len(named) >= 5
    for path, method in named:
        param = next(p for p in doc["paths"][path][method]["parameters"] if p["name"] == "name")
        assert param["schema"] == {"$ref": REF + "ModelName"}


def test_every_guarded_operation_declares_the_api_key(doc: dict, client: TestClient) -> None:
    schemes = doc["components"]["securitySchemes"]
    bearer = {name for name, s in schemes.items() if s["type"] == "http" and s["scheme"] == "bearer"}
    assert bearer
    guarded = {(m.lower(), p) for (m, p), roles in route_roles(client.app).items() if roles and p in doc["paths"]}
    guarded |= {("post", p) for p in doc["paths"] if p.startswith("/v1/models/cad_risk/")}
    assert len(guarded) >= 10
    for method, path in guarded:
        requirements = doc["paths"][path][method]["security"]
        assert any(set(r) & bearer for r in requirements), (method, path)
        assert "401" in doc["paths"][path][method]["responses"], (method, path)
    for path in PUBLIC_PATHS & set(doc["paths"]):
        assert "security" not in doc["paths"][path]["get"]


def test_document_is_cached_until_the_served_versions_change(client: TestClient) -> None:
    assert client.app.openapi() is client.app.openapi()


def _fuzz(operation: schemathesis.APIOperation, headers: dict[str, str], statuses: Counter[tuple[str, int]]) -> None:
    @given(case=operation.as_strategy())
    @seed(20261202)
    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck),
              phases=[Phase.explicit, Phase.generate])
    def call(case: schemathesis.Case) -> None:
        response = case.call_and_validate(headers=headers, checks=[not_a_server_error, status_code_conformance,
                                                                   response_schema_conformance])
        statuses[(operation.path, response.status_code)] += 1

    call()


def test_every_body_generated_from_a_typed_operation_is_answered(client: TestClient,
                                                                 api_keys: dict[str, str]) -> None:
    """Generated from the document alone, each typed request gets a 200 that conforms: no value the schema
    allows is refused (the generic operations' free-form bodies are fuzzed in test_fuzz.py)."""
    statuses: Counter[tuple[str, int]] = Counter()
    for result in schemathesis.openapi.from_asgi("/openapi.json", client.app).get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/v1/models/") and "{" not in operation.path:
            _fuzz(operation, auth(api_keys["application"]), statuses)
    assert {path for path, _ in statuses} == {"/v1/models/cad_risk/predict", "/v1/models/cad_risk/what-if"}
    assert {code for _, code in statuses} == {200}, statuses


@pytest.fixture(scope="module")
def treatment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict, str]]:
    """A small antiplatelet treatment-response model served alone: its document and an application key."""
    root = tmp_path_factory.mktemp("openapi-treatment")
    for name, n, seed_ in zip(("train", "cal", "test"), (4000, 2000, 600), (61, 62, 63), strict=True):
        simulate_trial(root / name, n, seed_)
    settings = Settings(home=root / ".pmed", served_models=[MODEL_NAME], reload_seconds=0, _env_file=None)
    outcome = register(fit_and_evaluate(root / "train", root / "cal", root / "test",
                                        LearnerParams(n_bootstrap=8, rounds=150)), root / "train", settings)
    if not outcome.promoted:  # a small trial may miss a gate; the document is what is tested here
        set_alias(configure_mlflow(settings), MODEL_NAME, "champion", outcome.version)
    key = issue_key(settings.keys_file, "openapi-app", "application")[1]
    with ready_client(settings) as client:
        yield client, client.get("/openapi.json").json(), key


def test_a_treatment_model_compares_on_its_covariates_only(treatment: tuple[TestClient, dict, str]) -> None:
    client, doc, key = treatment
    prefix = pascal(MODEL_NAME)
    meta = client.get(f"/v1/models/{MODEL_NAME}", headers=auth(key)).json()
    treated = next(f["name"] for f in meta["features"] if f["name"] not in _covariates(doc, prefix))
    assert f"/v1/models/{MODEL_NAME}/what-if" not in doc["paths"]  # what compare-treatments answers instead
    request, example = _body(doc, f"/v1/models/{MODEL_NAME}/compare-treatments")
    assert request["title"] == f"{prefix}CompareRequest"
    _validator(doc, request["title"]).validate(example)
    assert set(_covariates(doc, prefix)) == {f["name"] for f in meta["features"]} - {treated}
    predict_features = doc["components"]["schemas"][f"{prefix}Features"]["properties"]
    assert treated in predict_features  # predict scores one arm: the treatment is an input there
    response = client.post(f"/v1/models/{MODEL_NAME}/compare-treatments", json=example, headers=auth(key))
    assert response.status_code == 200, response.text
    answer = doc["paths"][f"/v1/models/{MODEL_NAME}/compare-treatments"]["post"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {"$ref": REF + "CompareResponse"}
    _validator(doc, "CompareResponse").validate(response.json())
    assert doc["components"]["schemas"]["ModelName"]["enum"] == [MODEL_NAME]


def _covariates(doc: dict, prefix: str) -> dict:
    return doc["components"]["schemas"][f"{prefix}Covariates"]["properties"]


def _train_other_features(settings: Settings, folder: Path) -> str:
    """A new version of cad_risk without sleep and diet, with total cholesterol: returns its version."""
    spec = (REPO / "tests" / "specs" / "cad_risk_binary.yaml").read_text()
    spec = spec.replace("  - sleep_hours\n", "").replace("  - diet_quality_score\n", "")
    spec = spec.replace("  - hdl_mg_dl\n", "  - hdl_mg_dl\n  - total_cholesterol_mg_dl\n")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cad_risk.yaml").write_text(spec)
    train_from_spec(folder / "cad_risk.yaml", write_feature_table(folder / "features", n=3000, seed=12), settings)
    versions = registry_client(settings).search_model_versions("name='cad_risk'")
    return str(max(int(v.version) for v in versions))


def test_document_follows_a_reload_to_a_version_with_other_features(client: TestClient, trained_home: Settings,
                                                                     tmp_path: Path) -> None:
    """Last in the file: it moves the module's champion (and moves it back)."""
    registry = registry_client(trained_home)
    before = client.app.openapi()
    first = registry.get_model_version_by_alias("cad_risk", "champion").version
    version = _train_other_features(trained_home, tmp_path)
    try:
        registry.set_registered_model_alias("cad_risk", "champion", version)
        client.app.state.reloader.poll(force=True)
        assert client.get("/ready").json()["loaded"] == {"cad_risk": version}
        after = client.get("/openapi.json").json()
        features = after["components"]["schemas"][f"{pascal('cad_risk')}Features"]["properties"]
        assert "total_cholesterol_mg_dl" in features and "mg/dL" in features["total_cholesterol_mg_dl"]["description"]
        assert "sleep_hours" not in features and "diet_quality_score" not in features
        assert "sleep_hours" in before["components"]["schemas"]["CadRiskFeatures"]["properties"]
        assert f"Served version {version}." in after["paths"]["/v1/models/cad_risk/predict"]["post"]["description"]
    finally:
        registry.set_registered_model_alias("cad_risk", "champion", first)
        client.app.state.reloader.poll(force=True)
    assert "sleep_hours" in client.get("/openapi.json").json()["components"]["schemas"]["CadRiskFeatures"]["properties"]
