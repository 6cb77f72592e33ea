"""compare-treatments and what-if over the real app, both models loaded by alias from a real MLflow registry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from fastapi.exceptions import RequestValidationError
from fastapi.testclient import TestClient

from features.sim.trial import read_trial, simulate_trial
from kernel.effect_model import META_FILE, booster_file
from kernel.settings import Settings
from serving.app import create_app
from serving.registry import ModelStore, served_model_from_bundle
from serving.routes.compare import refuse_unchangeable
from tests.serving.conftest import CANARY, auth
from tests.serving.helpers import assert_requests_match_artifacts, ready_client, toy_artifact
from training.tracking import configure_mlflow, set_alias
from training.treatment.effect import LearnerParams
from training.treatment.pipeline import MODEL_NAME, fit_and_evaluate, register

ROUTE = f"/v1/models/{MODEL_NAME}/compare-treatments"
pytestmark = pytest.mark.slow  # trains and registers two real models (~50 s on 2 busy cores)


@pytest.fixture(scope="module")
def trial_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("trial")
    dirs = {"train": root / "train", "calibration": root / "cal", "test": root / "test"}
    for folder, (n, seed) in zip(dirs.values(), ((3000, 21), (1500, 22), (600, 23)), strict=True):
        simulate_trial(folder, n, seed)
    return dirs


@pytest.fixture(scope="module")
def both_served(trained_home: Settings, trial_dirs: dict[str, Path], api_keys: dict[str, str]
                ) -> Iterator[TestClient]:
    outcome = fit_and_evaluate(trial_dirs["train"], trial_dirs["calibration"], trial_dirs["test"],
                               LearnerParams(n_bootstrap=8, rounds=120))
    registered = register(outcome, trial_dirs["train"], trained_home)
    if not registered.promoted:  # a 3,000-patient trial may not beat the CPIC rule; serve it anyway (forced)
        set_alias(configure_mlflow(trained_home), MODEL_NAME, "champion", registered.version)
    settings = trained_home.model_copy(update={"served_models": ["cad_risk", MODEL_NAME]})
    with ready_client(settings) as client:
        yield client


def _patients(trial_dirs: dict[str, Path], n: int) -> list[dict]:
    test = read_trial(trial_dirs["test"]).head(n)
    names = ["age_years", "female", "weight_kg", "diabetes", "egfr_ml_min", "prior_bleeding", "stemi",
             "current_smoker", "cyp2c19_phenotype_code"]
    return [{"patient_id": f"{CANARY}-{i}",
             "features": {k: (None if np.isnan(row[k]) else float(row[k])) for k in names}}
            for i, row in test.iterrows()]


def test_compare_gives_both_arms_interval_drivers_and_guideline(both_served: TestClient, api_keys: dict[str, str],
                                                                trial_dirs: dict[str, Path]) -> None:
    patients = _patients(trial_dirs, 40)
    response = both_served.post(ROUTE, json={"patients": patients}, headers=auth(api_keys["clinician"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["comparisons"]) == 40
    for comparison, patient in zip(body["comparisons"], patients, strict=True):
        reference, candidate = comparison["treatments"]
        assert (reference["treatment"], candidate["treatment"]) == ("clopidogrel", "ticagrelor")
        low, high = candidate["interval_95"]
        assert low <= candidate["difference"] <= high
        assert candidate["difference"] == pytest.approx(candidate["predicted_outcome"] - reference["predicted_outcome"],
                                                        abs=1e-6)
        assert candidate["reliable_difference"] == (not low <= 0 <= high)
        if not candidate["reliable_difference"]:
            assert "no reliable difference" in candidate["verdict"]
            assert comparison["model_recommendation"]["treatment"] is None
        # the drivers add up to the difference on the margin (log-odds) scale
        p0, p1 = reference["predicted_outcome"], candidate["predicted_outcome"]
        log_odds_ratio = np.log(p1 / (1 - p1)) - np.log(p0 / (1 - p0))
        assert sum(d["contribution"] for d in comparison["drivers"]) == pytest.approx(log_odds_ratio, abs=1e-3)
        assert comparison["drivers_total"] == pytest.approx(log_odds_ratio, abs=1e-3)
        guideline = comparison["guideline_recommendation"]
        assert guideline["source"].startswith("CPIC")
        assert comparison["model_recommendation"]["source"].startswith("model")
        code = patient["features"]["cyp2c19_phenotype_code"]
        expected = None if code is None else "ticagrelor" if code <= 1 else "clopidogrel"
        assert guideline["treatment"] == expected


def test_compare_is_audited_without_patient_ids(both_served: TestClient, api_keys: dict[str, str],
                                                trial_dirs: dict[str, Path], trained_home: Settings) -> None:
    response = both_served.post(ROUTE, json={"patients": _patients(trial_dirs, 2)},
                                headers=auth(api_keys["application"]))
    assert response.status_code == 200
    text = (trained_home.audit_dir / "predictions.jsonl").read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines()]
    mine = [r for r in records if r.get("request_id") == response.json()["request_id"]]
    assert len(mine) == 2 and {r["kind"] for r in mine} == {"compare-treatments"}
    assert CANARY not in text


def test_compare_roles_and_wrong_model(both_served: TestClient, api_keys: dict[str, str],
                                       trial_dirs: dict[str, Path]) -> None:
    body = {"patients": _patients(trial_dirs, 1)}
    assert both_served.post(ROUTE, json=body).status_code == 401
    assert both_served.post(ROUTE, json=body, headers=auth(api_keys["data_scientist"])).status_code == 403
    wrong = both_served.post("/v1/models/cad_risk/compare-treatments", json=body, headers=auth(api_keys["clinician"]))
    assert wrong.status_code == 404 and "not a treatment-response model" in wrong.text
    body["patients"][0]["features"]["egfr_ml_min"] = 900.0
    bad = both_served.post(ROUTE, json=body, headers=auth(api_keys["clinician"]))
    assert bad.status_code == 422 and "egfr_ml_min" in bad.text and "900" not in bad.text


def _cad_patient(both_served: TestClient, key: str) -> dict:
    info = both_served.get("/v1/models/cad_risk", headers=auth(key)).json()
    return {"patient_id": CANARY, "features": {f["name"]: f["example"] for f in info["features"]}}


def test_what_if_rescores_modifiable_factors_and_labels_it_associational(both_served: TestClient,
                                                                        api_keys: dict[str, str]) -> None:
    patient = _cad_patient(both_served, api_keys["clinician"])
    patient["features"].update(current_smoker=1.0, ldl_mg_dl=190.0)
    response = both_served.post("/v1/models/cad_risk/what-if", headers=auth(api_keys["clinician"]),
                                json={"patient": patient, "changes": {"current_smoker": 0.0, "ldl_mg_dl": 100.0}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["interpretation"] == "associational" and "not the effect" in body["caveat"]
    assert body["risk_if_changed"] < body["risk_now"]  # quitting and lower LDL: lower predicted risk
    assert body["difference"] == pytest.approx(body["risk_if_changed"] - body["risk_now"])


@pytest.mark.parametrize("change", [{"age_years": 40.0}, {"sex_male": 0.0}, {"cad_prs_sum": 0.0}])
def test_what_if_refuses_immutable_factors(both_served: TestClient, api_keys: dict[str, str], change: dict) -> None:
    patient = _cad_patient(both_served, api_keys["clinician"])
    response = both_served.post("/v1/models/cad_risk/what-if", headers=auth(api_keys["clinician"]),
                                json={"patient": patient, "changes": change})
    assert response.status_code == 422
    assert "immutable" in response.text and next(iter(change)) in response.text


def test_every_served_model_accepts_exactly_its_artifacts_features(both_served: TestClient,
                                                                   api_keys: dict[str, str]) -> None:
    assert assert_requests_match_artifacts(both_served, api_keys["application"]) == ["cad_risk", MODEL_NAME]


def test_two_treatment_models_side_by_side_keep_their_own_state(both_served: TestClient, trained_home: Settings,
                                                                 trial_dirs: dict[str, Path],
                                                                 api_keys: dict[str, str]) -> None:
    """Each served version holds its own ensemble and request models (built at load): two treatment models
    answering in turn never evict or mix each other's, and each answers as when served alone."""
    served = both_served.app.state.store.get(MODEL_NAME)
    extras = served.bundle.extras
    meta = {**json.loads(extras[META_FILE]), "interval_k": 2.5, "interval_c": 0.01}
    other_extras = {**extras, META_FILE: json.dumps(meta).encode(), booster_file(0): extras[booster_file(1)],
                    booster_file(1): extras[booster_file(0)]}
    other = served_model_from_bundle("clopidogrel_other", "7", "champion", replace(served.bundle, extras=other_extras))
    store = ModelStore(expected=[MODEL_NAME, "clopidogrel_other"])
    store.put(served)
    store.put(other)
    body, headers = {"patients": _patients(trial_dirs, 3)}, auth(api_keys["application"])
    alone = both_served.post(ROUTE, json=body, headers=headers).json()
    with TestClient(create_app(trained_home, store=store)) as pair:
        answers = [pair.post(f"/v1/models/{name}/compare-treatments", json=body, headers=headers).json()
                   for name in (MODEL_NAME, "clopidogrel_other") * 2]
    first, second = ([{k: v for k, v in a.items() if k != "request_id"} for a in answers[i::2]] for i in (0, 1))
    assert first[0] == first[1] == {k: v for k, v in alone.items() if k != "request_id"}
    assert second[0] == second[1] and second[0]["comparisons"] != first[0]["comparisons"]
    assert "SD x 2.50" in second[0]["interval_method"] and "SD x 2.50" not in first[0]["interval_method"]
    assert store.get(MODEL_NAME).state is served.state and served.state.effects is not other.state.effects


def test_what_if_rescores_what_the_artifact_marks_modifiable() -> None:
    """The modifiable factors are the artifact's (``ArtifactFeature.modifiable``, from the feature registry)."""
    features = toy_artifact([{"name": "waist_cm", "display_name": "Waist", "modifiable": True},
                             {"name": "bmi_kg_m2", "display_name": "BMI"},
                             {"name": "age_years", "display_name": "Age", "source": "demographic"}]).features
    refuse_unchangeable({"waist_cm": 80.0}, features)  # not in any hand list: the artifact says so
    with pytest.raises(RequestValidationError) as refused:
        refuse_unchangeable({"bmi_kg_m2": 25.0, "age_years": 40.0, "shoe_size": 44.0}, features)
    messages = {e["loc"][-1]: e["msg"] for e in refused.value.errors()}
    assert messages["bmi_kg_m2"] == "bmi_kg_m2 is not a modifiable factor this call re-scores (Waist)"
    assert "is immutable" in messages["age_years"] and "is not a feature" in messages["shoe_size"]
