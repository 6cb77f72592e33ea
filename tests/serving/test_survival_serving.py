"""A survival model served through ``create_app``: risk at the horizon, explained exactly in log hazard ratio;
what-if and the clinician page for a 10-year model on registry features, as ``cad_risk`` is served.

Also the one edit outside the survival files: ``serving.treeshap`` knows ``survival:cox``'s link (its stored
base score enters the margin as its log), so the path tables reproduce ``pred_contribs`` and add up to the
margin.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from fastapi.testclient import TestClient

from kernel.settings import Settings
from serving.auth import issue_key
from serving.call import validated_rows
from serving.openapi import pascal
from serving.schemas import WhatIfResponse
from serving.survival.answer import horizon_phrase, horizon_words
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


@pytest.mark.parametrize(("days", "phrase", "words"), [
    (3652.5, "10-year", "10 years"), (3652, "10-year", "10 years"), (3650, "10-year", "10 years"),
    (1825, "5-year", "5 years"), (365, "1-year", "1 year"), (180, "180-day", "180 days"),
    (400, "400-day", "400 days"), (1, "1-day", "1 day")])
def test_the_horizon_is_said_in_whole_years_or_else_in_days(days: float, phrase: str, words: str) -> None:
    assert (horizon_phrase(days), horizon_words(days)) == (phrase, words)


# A 10-year survival model on registry features, as cad_risk is: what-if re-scores its modifiable factors and the
# clinician page shows it. The table is drawn from a known Cox model (LDL, blood pressure and smoking raise the
# hazard) with uniform administrative censoring, so most patients are censored before the horizon.
CAD = "cad_survival"
CAD_SPEC = {"name": CAD, "task": "survival", "target": "cad_event", "id_column": "patient",
            "description": "Coronary artery disease within 10 years (test cohort).", "intended_use": "Tests only.",
            "survival": {"time_column": "followup_days", "event_column": "cad_event", "horizon_days": 3652.5},
            "survival_gates": {"min_c_index": 0.55, "min_test_events": 10},
            "features": ["age_years", "sex_male", "ldl_mg_dl", "sbp_mm_hg", "current_smoker"],
            "monotone_constraints": {"ldl_mg_dl": 1, "sbp_mm_hg": 1, "current_smoker": 1},
            "xgboost": {"max_depth": 2, "learning_rate": 0.05, "n_estimators": 300, "early_stopping_rounds": 30},
            "subgroups": []}
CAD_PATIENT: dict[str, float | None] = {"age_years": 62, "sex_male": 1, "ldl_mg_dl": 190, "sbp_mm_hg": 160,
                                        "current_smoker": 1}


def cad_survival_table(path: Path, n: int = 1200, seed: int = 5) -> Path:
    rng = np.random.default_rng(seed)
    age, sex = rng.uniform(40, 75, n).round(), rng.integers(0, 2, n)
    ldl, sbp, smoker = rng.uniform(70, 220, n).round(), rng.uniform(105, 175, n).round(), rng.integers(0, 2, n)
    log_hazard = 0.06 * (age - 57) + 0.012 * (ldl - 140) + 0.02 * (sbp - 140) + 0.8 * smoker + 0.3 * sex
    event_time, censored_at = rng.exponential(3652.5 / 0.2 * np.exp(-log_hazard)), rng.uniform(2000, 6000, n)
    pd.DataFrame({"patient": [f"S{i:04d}" for i in range(n)], "age_years": age, "sex_male": sex, "ldl_mg_dl": ldl,
                  "sbp_mm_hg": sbp, "current_smoker": smoker,
                  "followup_days": np.minimum(event_time, censored_at).round(1) + 1,
                  "cad_event": (event_time <= censored_at).astype(int)}).to_csv(path, index=False)
    return path


@dataclass(frozen=True)
class CadServed:
    client: TestClient
    settings: Settings
    keys: dict[str, str]  # role -> key

    def audit(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in (self.settings.audit_dir / "predictions.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def cad(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CadServed]:
    root = tmp_path_factory.mktemp("survival-cad")
    settings = Settings(home=root / ".pmed", served_models=[CAD], _env_file=None)
    outcome = train_from_spec(write_spec(root, CAD_SPEC), None, settings, table=cad_survival_table(root / "t.csv"))
    assert outcome.promoted
    keys = {role: issue_key(settings.keys_file, f"survival-{role}", role)[1] for role in ("application", "clinician")}
    with ready_client(settings) as client:
        yield CadServed(client, settings, keys)


def _what_if(cad: CadServed, changes: Mapping[str, float], role: str = "application") -> dict[str, Any]:
    body = {"patient": {"patient_id": "WHATIF-REF", "features": CAD_PATIENT}, "changes": changes}
    out = cad.client.post(f"/v1/models/{CAD}/what-if", json=body, headers=auth(cad.keys[role]))
    assert out.status_code == 200, out.text
    return out.json()


def _predict(cad: CadServed, features: Mapping[str, float | None]) -> dict[str, Any]:
    body = {"patients": [{"patient_id": "p", "features": features}]}
    out = cad.client.post(f"/v1/models/{CAD}/predict", json=body, headers=auth(cad.keys["application"]))
    assert out.status_code == 200, out.text
    return out.json()["predictions"][0]


def test_what_if_re_scores_the_horizon_risk_in_the_direction_of_the_monotone_constraints(cad: CadServed) -> None:
    lower_ldl, quit_smoking = _what_if(cad, {"ldl_mg_dl": 100}), _what_if(cad, {"current_smoker": 0})
    now = _predict(cad, CAD_PATIENT)["risk"]
    for answer in (lower_ldl, quit_smoking):
        assert answer["risk_now"] == pytest.approx(now, abs=1e-6) and answer["interpretation"] == "associational"
        assert answer["difference"] == pytest.approx(answer["risk_if_changed"] - answer["risk_now"], abs=1e-12)
    assert lower_ldl["risk_if_changed"] <= now  # monotone +1: lowering LDL cannot raise the risk
    assert quit_smoking["risk_if_changed"] < now  # the table's hazard ratio for smoking is exp(0.8)
    assert lower_ldl["risk_if_changed"] == pytest.approx(_predict(cad, {**CAD_PATIENT, "ldl_mg_dl": 100})["risk"],
                                                         abs=1e-6)


def test_what_if_refuses_immutable_factors_unauthenticated_calls_and_is_audited(cad: CadServed) -> None:
    body = {"patient": {"patient_id": "WHATIF-REF", "features": CAD_PATIENT}, "changes": {"age_years": 40}}
    refused = cad.client.post(f"/v1/models/{CAD}/what-if", json=body, headers=auth(cad.keys["application"]))
    assert refused.status_code == 422 and "immutable" in refused.text
    body["changes"] = {"sbp_mm_hg": 120}
    assert cad.client.post(f"/v1/models/{CAD}/what-if", json=body).status_code == 401
    before = len(cad.audit())
    answer = _what_if(cad, {"sbp_mm_hg": 120, "current_smoker": 0}, role="clinician")
    records = cad.audit()
    assert len(records) == before + 1  # the refused calls wrote nothing
    record = records[-1]
    assert (record["kind"], record["outcome"], record["role"]) == ("what-if", "what-if", "clinician")
    assert record["changed"] == answer["changed"] == ["current_smoker", "sbp_mm_hg"]
    assert record["request_id"] == answer["request_id"] and record["version"] == answer["version"]
    assert "WHATIF-REF" not in (cad.settings.audit_dir / "predictions.jsonl").read_text()  # the reference, never


def test_survival_what_if_explains_both_patients_on_the_log_hazard_scale(cad: CadServed) -> None:
    """The task's completion of the route's answer (``SurvivalTask.re_scored``): both patients explained at
    the horizon, contributions adding up to the margin, risk points to the risk."""
    model = cad.client.app.state.store.get(CAD)  # type: ignore[attr-defined]
    changes: dict[str, float] = {"ldl_mg_dl": 100, "current_smoker": 0}
    route = WhatIfResponse.model_validate(_what_if(cad, changes))
    rows = validated_rows([CAD_PATIENT, {**CAD_PATIENT, **changes}], model.bundle.feature_names, model.request_model)
    answer = model.task.re_scored(model, route, rows).model_dump()
    assert answer["task"] == "survival" and answer["horizon_days"] == 3652.5 and answer["horizon_years"] == 10
    assert answer["explanation_scale"].startswith("log hazard ratio") and answer["changed"] == route.changed
    calibration = model.bundle.calibrator.to_dict()
    for key, patient in (("risk_now", answer["now"]), ("risk_if_changed", answer["if_changed"])):
        explanation = patient["explanation"]
        assert explanation["scale"].startswith("log hazard ratio") and patient["horizon_days"] == 3652.5
        contributions = explanation["contributions"]
        assert explanation["base_value"] + sum(c["contribution"] for c in contributions) == pytest.approx(
            explanation["margin"], abs=1e-9)
        hazard = calibration["cumulative_hazard"] * np.exp(calibration["slope"] * explanation["margin"])
        assert patient["risk"] == pytest.approx(1 - np.exp(-hazard), abs=1e-12) == answer[key]
        assert answer[key] == pytest.approx(getattr(route, key), abs=1e-6)  # the booster's own margin, to float32
        baseline = patient["risk_points"]["baseline_risk"]
        assert sum(c["risk_points"] for c in contributions) == pytest.approx(100 * (patient["risk"] - baseline),
                                                                            abs=1e-7)
        assert sum(c["risk_points"] for c in patient["concepts"]) == pytest.approx(
            patient["risk_points"]["total_points"], abs=1e-7)
        assert all("10-year risk" in c["sentence"] for c in patient["concepts"])
    assert answer["difference"] == answer["if_changed"]["risk"] - answer["now"]["risk"] < 0
    by_feature = {c["feature"]: c for c in answer["now"]["explanation"]["contributions"]}
    assert by_feature["current_smoker"]["contribution"] > 0 and by_feature["current_smoker"]["risk_points"] > 0


def test_openapi_lists_the_survival_what_if_with_its_typed_body(cad: CadServed) -> None:
    doc = cad.client.get("/openapi.json").json()
    prefix = pascal(CAD)
    operation = doc["paths"][f"/v1/models/{CAD}/what-if"]["post"]
    assert operation["operationId"] == f"what_if_{CAD}" and operation["tags"] == [CAD]
    body = operation["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": f"#/components/schemas/{prefix}WhatIfRequest"}
    changes = doc["components"]["schemas"][f"{prefix}WhatIfChanges"]
    assert sorted(changes["properties"]) == ["current_smoker", "ldl_mg_dl", "sbp_mm_hg"]  # not age or sex
    smoker = changes["properties"]["current_smoker"]
    assert {"minimum": 0.0, "maximum": 1.0, "type": "integer"} in smoker["anyOf"] and "default" not in smoker
    predict = doc["paths"][f"/v1/models/{CAD}/predict"]["post"]
    assert predict["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SurvivalPredictionResponse"}
    example = body["example"]
    assert set(example["changes"]) <= set(changes["properties"])
    assert cad.client.post(f"/v1/models/{CAD}/what-if", json=example,
                           headers=auth(cad.keys["application"])).status_code == 200  # the example is valid


def _page_form(values: Mapping[str, float | None], ref: str) -> dict[str, str]:
    return {"patient_ref": ref, **{f"f_{n}": "" if v is None else f"{v:g}" for n, v in values.items()}}


def _text(html: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>(.*?)</(?:div|dd|p|span)>', html, re.S)
    assert found, element_id
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())


def test_the_clinician_page_shows_the_apis_survival_answer(cad: CadServed) -> None:
    page, key = f"/clinician/{CAD}", cad.keys["clinician"]
    assert cad.client.get(page).status_code == 401  # signed out: the sign-in form
    assert cad.client.get(page, headers=auth(cad.keys["application"])).status_code == 403
    form = cad.client.get(page, headers=auth(key))
    assert form.status_code == 200 and 'id="time-to-event"' in form.text
    assert "within 10 years" in form.text and "censored patients kept" in form.text
    assert _text(form.text, "horizon") == "10 years (3652.5 days)"
    assert [s for s in ("Demographics", "Clinical record", "Lifestyle") if f'class="section">{s}<' in form.text] == [
        "Demographics", "Clinical record", "Lifestyle"]  # the form grouped by source
    api = _predict(cad, CAD_PATIENT)
    shown = cad.client.post(page, data=_page_form(CAD_PATIENT, "MRN-SURV-1"), headers=auth(key))
    assert shown.status_code == 200, shown.text
    html = shown.text
    assert _text(html, "risk-value") == f"{100 * api['risk']:.1f}%"
    assert _text(html, "baseline-value").startswith(f"{100 * api['risk_points']['baseline_risk']:.1f}%")
    assert "10-year risk" in html and "0.49" not in html and "3652.5-day" not in html
    drivers = [" ".join(re.sub(r"<[^>]+>", "", s).split()) for s in re.findall(r'class="sentence">(.*?)</span>',
                                                                                 html, re.S)]
    expected = [c["sentence"] for c in api["concepts"] if round(abs(c["risk_points"]), 1) > 0][:5]
    assert drivers == expected and drivers
    assert sum(c["risk_points"] for c in api["concepts"]) == pytest.approx(100 * (api["risk"] - api["risk_points"][
        "baseline_risk"]), abs=1e-7)  # the waterfall's points add up
    hazard_ratio = np.exp(api["explanation"]["margin"] - api["explanation"]["base_value"])
    assert _text(html, "hazard-ratio").startswith(f"{hazard_ratio:.2f}")
    assert "log hazard ratio" in _text(html, "explanation-scale")
    assert "Exact log hazard ratio contributions (TreeSHAP)" in html and "log-odds" not in html
    flags = [" ".join(m.split()) for m in re.findall(r'<li class="(?:info|warning|critical)">(.*?)</li>', html, re.S)]
    assert flags == [f["message"] for f in api["flags"]]
    record = cad.audit()[-1]
    assert (record["channel"], record["outcome"], record["role"]) == ("clinician_page", "predicted", "clinician")
    assert "MRN-SURV-1" not in (cad.settings.audit_dir / "predictions.jsonl").read_text()


def test_the_page_abstains_like_the_api_for_a_survival_model(cad: CadServed) -> None:
    values = {**CAD_PATIENT, "ldl_mg_dl": None, "sbp_mm_hg": None, "current_smoker": None}
    api = _predict(cad, values)
    assert api["abstained"] and api["risk"] is None
    shown = cad.client.post(f"/clinician/{CAD}", data=_page_form(values, "MRN-SURV-2"),
                            headers=auth(cad.keys["clinician"]))
    assert shown.status_code == 200 and 'id="abstained"' in shown.text and api["abstain_reason"] in unescape(shown.text)
    assert 'id="risk-value"' not in shown.text and 'id="hazard-ratio"' not in shown.text
    assert (cad.audit()[-1]["channel"], cad.audit()[-1]["outcome"]) == ("clinician_page", "abstained")


def test_the_what_if_route_answers_with_both_explanations_at_the_horizon(cad: CadServed) -> None:
    answer = _what_if(cad, {"ldl_mg_dl": 100, "current_smoker": 0})
    assert answer["task"] == "survival" and answer["horizon_days"] == 3652.5 and answer["horizon_years"] == 10
    assert answer["risk_now"] == answer["now"]["risk"] and answer["risk_if_changed"] == answer["if_changed"]["risk"]
    assert answer["now"]["explanation"]["scale"].startswith("log hazard ratio")
    schema = cad.client.get("/openapi.json").json()["paths"][f"/v1/models/{CAD}/what-if"]["post"]["responses"]["200"]
    assert schema["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/SurvivalWhatIfResponse"}

