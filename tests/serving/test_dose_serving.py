"""The warfarin dose model served by the real app: trained on a slice of the real IWPC cohort, registered and
promoted in a real SQLite MLflow registry, loaded by alias beside a risk model."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features.iwpc import load_raw_iwpc, prepare_iwpc
from kernel.bundle import Bundle, read_bundle
from kernel.calibration import SigmoidCalibrator
from kernel.formulas.iwpc import PHARMACOGENETIC, iwpc_dose
from kernel.model_registry import download_version, registry_client, version_for_alias
from kernel.settings import Settings
from pmed.cli import app as cli
from serving.auth import issue_key
from serving.registry import VerificationError, served_model_from_bundle
from serving.regression.dose import cyp2c9_genotype, iwpc_inputs, vkorc1_1639_genotype
from tests.conftest import REPO, write_feature_table
from tests.serving.conftest import auth
from tests.serving.helpers import assert_requests_match_artifacts, ready_client
from training.pipeline import train_from_spec

SLICE_SITES = ["site_02", "site_06", "site_10", "site_12", "site_16", "site_17", "site_20", "site_22"]
DOSE = "warfarin_dose"
PREDICT = f"/v1/models/{DOSE}/predict"
FEATURES = ["age_decade", "height_cm", "weight_kg", "race_asian", "race_black", "race_unknown", "cyp2c9_star2_count",
            "cyp2c9_star3_count", "vkorc1_1639_a_count", "amiodarone", "enzyme_inducer"]
# Worked example A of tests/training/test_warfarin_iwpc.py: IWPC pharmacogenetic dose 4.7356^2 mg/week
PATIENT_A = {"age_decade": 6, "height_cm": 170.0, "weight_kg": 80.0, "race_asian": 0, "race_black": 0,
             "race_unknown": 0, "cyp2c9_star2_count": 0, "cyp2c9_star3_count": 1, "vkorc1_1639_a_count": 1,
             "amiodarone": 0, "enzyme_inducer": 0}


@pytest.fixture(scope="module")
def iwpc() -> pd.DataFrame:
    return prepare_iwpc(load_raw_iwpc()).table


@pytest.fixture(scope="module")
def home(iwpc: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A small dose model and a risk model, both promoted to @champion in one real SQLite registry."""
    root = tmp_path_factory.mktemp("dose-serving")
    settings = Settings(home=root / ".pmed", served_models=["cad_risk", DOSE], reload_seconds=0, _env_file=None)
    table = root / "slice.parquet"
    iwpc[iwpc["site"].isin(SLICE_SITES)].to_parquet(table, index=False)
    spec = yaml.safe_load((REPO / "models" / "warfarin_dose.yaml").read_text())
    spec["xgboost"].update(n_estimators=300, learning_rate=0.1, early_stopping_rounds=20)
    spec["split"]["folds"] = 2
    spec["bootstrap_samples"] = 10
    spec["gates"].update(min_test_patients=100, max_mae_vs_baseline=None)
    (root / "warfarin_dose.yaml").write_text(yaml.safe_dump(spec))
    assert train_from_spec(root / "warfarin_dose.yaml", None, settings, table=table).promoted
    train_from_spec(REPO / "tests" / "specs" / "cad_risk_binary.yaml",
                    write_feature_table(root / "cad", n=2000, seed=5), settings)
    return settings


@pytest.fixture(scope="module")
def keys(home: Settings) -> dict[str, str]:
    return {role: issue_key(home.keys_file, f"dose-{role}", role)[1]
            for role in ("clinician", "application", "data_scientist", "admin")}


@pytest.fixture(scope="module")
def served(home: Settings, keys: dict[str, str]) -> Iterator[TestClient]:
    with ready_client(home) as client:
        yield client


@pytest.fixture(scope="module")
def champion(home: Settings, tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    """The promoted bundle, read straight from the registry (the reference the API must agree with)."""
    client = registry_client(home)
    version = version_for_alias(client, DOSE, "champion").version
    return read_bundle(download_version(client, DOSE, str(version), tmp_path_factory.mktemp("champion")))


def _requests(rows: pd.DataFrame) -> list[dict]:
    return [{"patient_id": f"iwpc-{i}", "features": {n: None if pd.isna(v) else float(v) for n, v in row.items()}}
            for i, (_, row) in enumerate(rows[FEATURES].iterrows())]


def test_genotypes_read_back_from_allele_counts_match_the_cohort(iwpc: pd.DataFrame) -> None:
    """The serving inverse of features/iwpc.py: every eligible patient's genotype categories and IWPC dose."""
    X = iwpc[FEATURES].to_numpy(dtype=float)
    back = iwpc_inputs(X, FEATURES)
    assert (back["cyp2c9_genotype"] == iwpc["cyp2c9_genotype"]).all()
    assert (back["vkorc1_1639_genotype"] == iwpc["vkorc1_1639_genotype"]).all()
    assert (iwpc["cyp2c9_genotype"] == "unknown").sum() > 50 and (iwpc["vkorc1_1639_genotype"] == "unknown").sum() > 50
    np.testing.assert_allclose(iwpc_dose(back, PHARMACOGENETIC), iwpc_dose(iwpc, PHARMACOGENETIC), rtol=1e-12)
    assert cyp2c9_genotype(1, 1) == "*2/*3" and cyp2c9_genotype(0, math.nan) == "unknown"
    assert vkorc1_1639_genotype(2) == "A/A"


@pytest.mark.slow
def test_dose_is_the_bundle_output_with_interval_iwpc_beside_it_and_drivers_adding_up(
        served: TestClient, keys: dict[str, str], champion: Bundle, iwpc: pd.DataFrame) -> None:
    held_out = iwpc[~iwpc["site"].isin(SLICE_SITES)]
    rows = pd.concat([held_out.head(15), held_out[held_out["cyp2c9_genotype"] == "unknown"].head(3),
                      held_out[held_out["vkorc1_1639_genotype"] == "unknown"].head(3)])
    response = served.post(PREDICT, json={"patients": _requests(rows)}, headers=auth(keys["application"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["task"] == "dose_regression" and body["unit"] == "mg/week" and body["dose_bands_mg_week"] == [21, 49]
    X = rows[FEATURES].to_numpy(dtype=float)
    margin = champion.booster.predict(xgb.DMatrix(X, missing=np.nan), output_margin=True)
    expected, (low, high) = champion.risk(X), champion.calibrator.interval(margin)
    iwpc_expected = iwpc_dose(rows, PHARMACOGENETIC)  # the table's own genotype columns, not the API's inverse
    answered = 0
    for i, p in enumerate(body["predictions"]):
        iwpc_answer = p["iwpc_pharmacogenetic_dose"]
        assert iwpc_answer["source"].startswith("IWPC pharmacogenetic algorithm")
        assert iwpc_answer["dose_mg_week"] == pytest.approx(iwpc_expected[i], rel=1e-9)
        assert iwpc_answer["inputs"]["cyp2c9_genotype"] == rows["cyp2c9_genotype"].iloc[i]
        assert iwpc_answer["dose_band"] == _band(iwpc_expected[i])
        model = p["model_dose"]
        assert model["source"].startswith(f"pmed model {DOSE} version ")
        if p["abstained"]:
            assert model["dose_mg_week"] is None and model["interval"] is None and p["explanation"] is None
            continue
        answered += 1
        dose = model["dose_mg_week"]
        assert dose == pytest.approx(float(expected[i]), rel=1e-6) and model["dose_band"] == _band(dose)
        assert model["dose_mg_day"] == pytest.approx(dose / 7)
        interval = model["interval"]
        assert interval["low_mg_week"] < dose < interval["high_mg_week"] and interval["coverage"] == 0.9
        assert (interval["low_mg_week"], interval["high_mg_week"]) == pytest.approx((low[i], high[i]), rel=1e-6)
        explanation = p["explanation"]
        assert explanation["scale"].startswith("square root of the weekly dose")
        total = explanation["base_value"] + sum(c["contribution"] for c in explanation["contributions"])
        assert total == pytest.approx(explanation["margin"], abs=1e-4)
        assert explanation["margin"] == pytest.approx(float(margin[i]), abs=1e-5)
        assert explanation["margin"] ** 2 == pytest.approx(dose, rel=1e-5)  # the sqrt scale, squared back
        assert {c["feature"] for c in explanation["contributions"]} == set(FEATURES)
    assert answered >= 15


@pytest.mark.slow
def test_worked_iwpc_example_and_untyped_genotype(served: TestClient, keys: dict[str, str]) -> None:
    untyped = {**PATIENT_A, "cyp2c9_star2_count": None, "cyp2c9_star3_count": None}
    response = served.post(PREDICT, json={"patients": [{"patient_id": "a", "features": PATIENT_A},
                                                       {"patient_id": "a-untyped", "features": untyped}]},
                           headers=auth(keys["clinician"]))
    assert response.status_code == 200, response.text
    typed, unknown = (p["iwpc_pharmacogenetic_dose"] for p in response.json()["predictions"])
    assert typed["dose_mg_week"] == pytest.approx(22.42590736, abs=1e-8) and typed["dose_band"] == "intermediate"
    assert typed["inputs"] == {"cyp2c9_genotype": "*1/*3", "vkorc1_1639_genotype": "A/G"}
    assert unknown["inputs"]["cyp2c9_genotype"] == "unknown"
    assert unknown["dose_mg_week"] == pytest.approx((4.7356 + 0.9357 - 0.2188) ** 2, abs=1e-8)


@pytest.mark.slow
def test_the_wrong_request_shape_or_route_never_gets_a_number(served: TestClient, keys: dict[str, str]) -> None:
    headers = auth(keys["clinician"])
    cad = served.get("/v1/models/cad_risk", headers=headers).json()["features"]
    risk_shaped = {"patients": [{"patient_id": "r", "features": {f["name"]: f["example"] for f in cad}}]}
    dose_shaped = {"patients": [{"patient_id": "d", "features": PATIENT_A}]}
    wrong = served.post(PREDICT, json=risk_shaped, headers=headers)
    assert wrong.status_code == 422 and "dose" not in wrong.text.replace(DOSE, "")
    fields = {e["loc"][-1]: e["type"] for e in wrong.json()["detail"]}
    assert fields["ldl_mg_dl"] == "extra_forbidden" and fields["age_decade"] == "missing"
    other = served.post("/v1/models/cad_risk/predict", json=dose_shaped, headers=headers)
    assert other.status_code == 422 and "age_decade" in other.text
    compare = served.post(f"/v1/models/{DOSE}/compare-treatments", json=risk_shaped, headers=headers)
    assert compare.status_code == 422 and "age_decade" in compare.text
    what_if = served.post(f"/v1/models/{DOSE}/what-if", headers=headers,
                          json={"patient": dose_shaped["patients"][0], "changes": {"amiodarone": 1}})
    assert what_if.status_code == 404 and "dose_regression" in what_if.json()["detail"]
    for change, field in (({"cyp2c9_star2_count": 2, "cyp2c9_star3_count": 1}, "cyp2c9_star3_count"),
                          ({"race_asian": 1, "race_black": 1}, "race_unknown"), ({"age_decade": 12}, "age_decade"),
                          ({"vkorc1_1639_a_count": 1.5}, "vkorc1_1639_a_count")):
        bad = served.post(PREDICT, json={"patients": [{"patient_id": "x", "features": {**PATIENT_A, **change}}]},
                          headers=headers)
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == field, (change, bad.text)
    info = served.get(f"/v1/models/{DOSE}", headers=headers).json()
    assert info["task"] == "dose_regression" and info["horizon_years"] is None
    assert info["explanation_scale"].startswith("square root") and info["calibration"]["method"] == "dose_interval"


@pytest.mark.slow
def test_compare_treatments_sets_the_model_dose_beside_iwpc_clinical_and_fixed(
        served: TestClient, keys: dict[str, str], home: Settings) -> None:
    black = {**PATIENT_A, "race_black": 1}
    untyped = {**PATIENT_A, "cyp2c9_star2_count": None, "cyp2c9_star3_count": None, "vkorc1_1639_a_count": None}
    patients = [{"patient_id": f"CANARY-cmp-{i}", "features": f} for i, f in enumerate((PATIENT_A, black, untyped))]
    headers = auth(keys["clinician"])
    predicted = served.post(PREDICT, json={"patients": patients}, headers=headers)
    compared = served.post(f"/v1/models/{DOSE}/compare-treatments", json={"patients": patients}, headers=headers)
    assert compared.status_code == 200, compared.text
    body = compared.json()
    assert body["task"] == "dose_regression" and body["unit"] == "mg/week"
    for answer, comparison in zip(predicted.json()["predictions"], body["comparisons"], strict=True):
        assert comparison["model_dose"] == answer["model_dose"]  # predict and compare never disagree
        assert comparison["explanation"] == answer["explanation"]
    typed = body["comparisons"][0]
    strategies = {s["strategy"]: s for s in typed["strategies"]}
    assert list(strategies) == ["iwpc_pharmacogenetic", "iwpc_clinical", "fixed_35mg_week"]
    assert all("not this model" in s["source"] for s in strategies.values())
    assert strategies["iwpc_pharmacogenetic"]["dose_mg_week"] == pytest.approx(22.42590736, abs=1e-8)
    clinical = (4.0376 - 0.2546 * 6 + 0.0118 * 170 + 0.0134 * 80) ** 2  # the published clinical formula by hand
    assert strategies["iwpc_clinical"]["dose_mg_week"] == pytest.approx(clinical, rel=1e-9)
    assert strategies["fixed_35mg_week"]["dose_mg_week"] == 35.0
    dose, interval = typed["model_dose"]["dose_mg_week"], typed["model_dose"]["interval"]
    for s in strategies.values():
        assert s["difference_from_model_mg_week"] == pytest.approx(s["dose_mg_week"] - dose)
        assert s["within_model_interval"] == (interval["low_mg_week"] <= s["dose_mg_week"] <= interval["high_mg_week"])
    assert "African ancestry" in body["comparisons"][1]["strategies"][0]["note"]
    assert typed["strategies"][0]["note"] is None
    untyped_pgx = body["comparisons"][2]["strategies"][0]  # the algorithm's own "unknown" genotype terms
    assert untyped_pgx["dose_mg_week"] == pytest.approx((4.7356 + 0.9357 + 0.8677 - 0.2188 - 0.4854) ** 2, abs=1e-8)
    assert set(body["comparisons"][2]["missing_features"]) == {"cyp2c9_star2_count", "cyp2c9_star3_count",
                                                               "vkorc1_1639_a_count"}
    audit = [json.loads(line) for line in (home.audit_dir / "predictions.jsonl").read_text().splitlines()]
    mine = [r for r in audit if r["request_id"] == body["request_id"]]
    assert [r["kind"] for r in mine] == ["compare-treatments"] * 3
    assert [r["outcome"] for r in mine] == ["abstained" if c["abstained"] else "compared" for c in body["comparisons"]]
    no_weight = [{"patient_id": "CANARY-w", "features": {**PATIENT_A, "weight_kg": None}}]
    refused = served.post(f"/v1/models/{DOSE}/compare-treatments", json={"patients": no_weight}, headers=headers)
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == "weight_kg"
    assert "CANARY" not in (home.audit_dir / "predictions.jsonl").read_text()


@pytest.mark.slow
def test_roles_and_audit(served: TestClient, keys: dict[str, str], home: Settings) -> None:
    body = {"patients": [{"patient_id": "CANARY-dose-1", "features": PATIENT_A},
                         {"patient_id": "CANARY-dose-2", "features": {**PATIENT_A, "weight_kg": 95.0}}]}
    assert served.post(PREDICT, json=body).status_code == 401
    assert served.post(PREDICT, json=body, headers=auth(keys["data_scientist"])).status_code == 403
    assert served.post(PREDICT, json=body, headers=auth(keys["admin"])).status_code == 403
    audit_file = home.audit_dir / "predictions.jsonl"
    before = len(audit_file.read_text().splitlines()) if audit_file.exists() else 0
    answer = served.post(PREDICT, json=body, headers=auth(keys["clinician"]))
    assert answer.status_code == 200
    records = [json.loads(line) for line in audit_file.read_text().splitlines()[before:]]
    assert [r["kind"] for r in records] == ["dose", "dose"] and {r["model"] for r in records} == {DOSE}
    assert {r["request_id"] for r in records} == {answer.json()["request_id"]}
    assert {r["outcome"] for r in records} == {"predicted"} and len({r["patient_key"] for r in records}) == 2
    assert "CANARY" not in audit_file.read_text()
    assert served.post(PREDICT, json=body, headers=auth(keys["application"])).status_code == 200


@pytest.mark.slow
def test_a_dose_bundle_with_a_risk_calibrator_is_refused(champion: Bundle) -> None:
    with pytest.raises(VerificationError, match="dose_regression"):
        served_model_from_bundle(DOSE, "1", "champion", replace(champion, calibrator=SigmoidCalibrator()))


@pytest.mark.slow
def test_pmed_models_prints_mae_and_pw20_for_the_dose_model(home: Settings) -> None:
    result = CliRunner().invoke(cli, ["models"], env={"PMED_HOME": str(home.home)})
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "MAE " in lines[DOSE] and "mg/week" in lines[DOSE] and "PW20 " in lines[DOSE] and "None" not in lines[DOSE]
    assert "AUROC 0." in lines["cad_risk"]


def test_the_dose_model_is_served_only_when_configured(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PMED_SERVED_MODELS", raising=False)
    assert DOSE not in Settings(_env_file=None).served_models
    monkeypatch.setenv("PMED_SERVED_MODELS", '["cad_risk", "t2d_risk", "warfarin_dose"]')
    assert Settings(_env_file=None).served_models == ["cad_risk", "t2d_risk", DOSE]


def _band(dose: float) -> str:
    return "low" if dose <= 21 else "high" if dose >= 49 else "intermediate"


@pytest.mark.slow
def test_the_clinician_page_shows_the_dose_beside_the_other_strategies(served: TestClient, keys: dict[str, str],
                                                                      home: Settings) -> None:
    headers = {"Authorization": f"Bearer {keys['clinician']}"}
    served.cookies.clear()
    form_page = served.get(f"/clinician/{DOSE}", headers=headers)
    assert form_page.status_code == 200 and "Estimate the dose" in form_page.text
    assert re.search(r'<select id="f_amiodarone".*?<option value="1"\s*>taking</option>', form_page.text, re.S)
    api = served.post(PREDICT, json={"patients": [{"patient_id": "a", "features": PATIENT_A}]}, headers=headers)
    expected = api.json()["predictions"][0]
    form = {"patient_ref": "MRN-DOSE-1", **{f"f_{k}": "" if v is None else f"{v:g}" for k, v in PATIENT_A.items()}}
    shown = served.post(f"/clinician/{DOSE}", data=form, headers=headers)
    assert shown.status_code == 200, shown.text
    html = shown.text
    dose = expected["model_dose"]
    assert re.search(rf'id="dose-value">{dose["dose_mg_week"]:.1f}\s', html)
    interval = dose["interval"]
    assert f'{interval["low_mg_week"]:.1f} to\n          {interval["high_mg_week"]:.1f} mg/week' in html
    row = re.search(r'id="strategy-iwpc_pharmacogenetic">(.*?)</tr>', html, re.S).group(1)
    assert "IWPC pharmacogenetic algorithm" in row and "not this model" in row and ">22.4<" in row
    assert re.search(r'id="strategy-fixed_35mg_week">.*?>35.0<', html, re.S)
    sentences = re.findall(r'class="sentence">(.*?)</span>', html)
    top = expected["explanation"]["contributions"][0]
    assert sentences and sentences[0].startswith(f"{top['display_name']}: ") and top["direction"] in sentences[0]
    audit = [json.loads(line) for line in (home.audit_dir / "predictions.jsonl").read_text().splitlines()]
    assert audit[-1]["channel"] == "clinician_page" and audit[-1]["kind"] == "dose" and audit[-1]["model"] == DOSE
    assert "MRN-DOSE-1" not in (home.audit_dir / "predictions.jsonl").read_text()
    impossible = served.post(f"/clinician/{DOSE}", data={**form, "f_race_asian": "1", "f_race_black": "1"},
                             headers=headers)
    assert impossible.status_code == 422 and 'id="dose-value"' not in impossible.text
    assert "at most one of race_asian, race_black, race_unknown may be 1" in impossible.text
    assert served.get("/clinician/cad_risk", headers=headers).status_code == 200


def test_every_served_model_accepts_exactly_its_artifacts_features(served: TestClient, keys: dict[str, str]) -> None:
    assert assert_requests_match_artifacts(served, keys["application"]) == ["cad_risk", DOSE]
