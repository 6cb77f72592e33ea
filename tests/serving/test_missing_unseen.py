"""A blank input the model never saw missing in training: abstain by default, or warn with the size of its effect.

Two models are trained through the real pipeline on a user's table whose polygenic score is never missing (and
whose biomarker is missing for 10% of patients): one with the spec's default (``missing_unseen: abstain``), one
with ``missing_unseen: warn``. Both are served, and the JSON API and the clinician page must agree.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient

from kernel.settings import Settings
from serving.app import create_app
from serving.auth import issue_key
from serving.flags import UNSEEN_MISSING_RATE, assess
from tests.serving.helpers import toy_artifact, wait_for
from training.pipeline import train_from_spec

SPEC = {
    "description": "Event within a year (a user's own cohort; missing-input tests).",
    "intended_use": "Tests of the missing_unseen setting; not a clinical model.",
    "target": "event_1y",
    "horizon_years": 1,
    "id_column": "subject",
    "features": ["age_years", "sex_male", "prs_z", "marker"],
    "declared_features": [
        {"name": "prs_z", "display_name": "Polygenic score", "unit": "SD", "kind": "continuous", "min": -6,
         "max": 6, "source": "genetic"},
        {"name": "marker", "display_name": "Biomarker", "unit": "ng/mL", "kind": "continuous", "min": 0,
         "max": 100},
    ],
    "subgroups": ["sex_male", "prs_z"],
    "bootstrap_samples": 20,
    "xgboost": {"max_depth": 3, "learning_rate": 0.1, "n_estimators": 300, "nthread": 1},
    "gates": {"min_auroc": 0.6, "calibration_slope": [0.2, 5.0], "min_test_events": 10,
              "max_auroc_drop_vs_champion": None},
}


def _table(path: Path, n: int = 3000, seed: int = 7) -> Path:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"subject": [f"S{i:05d}" for i in range(n)], "age_years": rng.integers(40, 80, n),
                          "sex_male": rng.integers(0, 2, n), "prs_z": np.round(rng.normal(0, 1, n), 3),
                          "marker": np.round(rng.uniform(0, 100, n), 1)})
    # threshold effects a tree captures and a logistic regression does not
    logit = (-1.2 + 1.6 * (frame["prs_z"] > 0.5) + 1.2 * (frame["marker"] > 60) + 0.04 * (frame["age_years"] - 60)
             - 0.8 * ((frame["prs_z"] < -0.5) & (frame["marker"] < 30)))
    frame["event_1y"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame.loc[rng.random(n) < 0.1, "marker"] = np.nan  # the biomarker is sometimes not measured; the PRS never
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, Settings]]:
    root = tmp_path_factory.mktemp("unseen")
    table = _table(root / "cohort.csv")
    settings = Settings(home=root / ".pmed", served_models=["unseen_abstain", "unseen_warn"], _env_file=None)
    for name, extra in (("unseen_abstain", {}), ("unseen_warn", {"missing_unseen": "warn"})):
        spec = root / f"{name}.yaml"
        spec.write_text(yaml.safe_dump({**SPEC, "name": name, **extra}))
        outcome = train_from_spec(spec, None, settings, table=table)
        assert outcome.promoted, [g for g in outcome.gates if not g.passed]
    key = issue_key(settings.keys_file, "clinician-unseen", "clinician")[1]
    with TestClient(create_app(settings)) as client:
        wait_for(lambda: client.get("/ready").status_code == 200, what="the app to load both models")
        yield client, key, settings


def _patient(client: TestClient, key: str, model: str, **changes: float | None) -> dict[str, float | None]:
    meta = client.get(f"/v1/models/{model}", headers={"Authorization": f"Bearer {key}"}).json()
    return {**{f["name"]: f["example"] for f in meta["features"]}, **changes}


def _predict(client: TestClient, key: str, model: str, values: dict[str, float | None]) -> dict[str, Any]:
    body = {"patients": [{"patient_id": "p1", "features": values}]}
    response = client.post(f"/v1/models/{model}/predict", json=body, headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()["predictions"][0]


def test_a_blank_never_seen_in_training_abstains_by_default(served: tuple[TestClient, str, Settings]) -> None:
    client, key, _ = served
    answer = _predict(client, key, "unseen_abstain", _patient(client, key, "unseen_abstain", prs_z=None))
    assert answer["abstained"] and answer["risk"] is None and answer["explanation"] is None
    assert "Polygenic score was not provided" in answer["abstain_reason"]
    assert "never learned what a blank means" in answer["abstain_reason"]
    assert answer["flags"][0]["kind"] == "abstained"
    # a blank the model did see in training (the biomarker, missing for 10%) still answers, with the usual flag
    seen = _predict(client, key, "unseen_abstain", _patient(client, key, "unseen_abstain", marker=None))
    assert not seen["abstained"] and seen["risk"] is not None
    assert [(f["kind"], f["feature"]) for f in seen["flags"]] == [("missing", "marker")]


def test_with_warn_it_answers_with_a_flag_naming_the_input_and_the_effect_size(
        served: tuple[TestClient, str, Settings]) -> None:
    client, key, _ = served
    full = _patient(client, key, "unseen_warn")
    blank = _predict(client, key, "unseen_warn", {**full, "prs_z": None})
    median = _predict(client, key, "unseen_warn", full)  # every input at its training median: the PRS at its median
    assert not blank["abstained"] and blank["risk"] is not None
    flags = [f for f in blank["flags"] if f["kind"] == "missing_unseen"]
    assert len(flags) == 1 and flags[0]["feature"] == "prs_z" and flags[0]["severity"] == "warning"
    effect = 100 * (blank["risk"] - median["risk"])
    stated = re.search(r"would be (\d+\.\d) percentage points (lower|higher)", flags[0]["message"])
    if abs(effect) >= 0.05:
        assert stated, flags[0]["message"]
        assert float(stated.group(1)) == pytest.approx(abs(effect), abs=0.06)
        assert stated.group(2) == ("lower" if effect > 0 else "higher")
    assert "Polygenic score" in flags[0]["message"]


def test_the_clinician_page_shows_the_abstention_and_the_warning(served: tuple[TestClient, str, Settings]) -> None:
    client, key, _ = served
    headers = {"Authorization": f"Bearer {key}"}
    for model in ("unseen_abstain", "unseen_warn"):
        values = _patient(client, key, model, prs_z=None)
        form = {"patient_ref": "MRN-UNSEEN", **{f"f_{n}": "" if v is None else f"{v:g}" for n, v in values.items()}}
        page = client.post(f"/clinician/{model}", data=form, headers=headers)
        assert page.status_code == 200, page.text
        text = page.text.replace("&#39;", "'")
        assert "Polygenic score was not provided" in text and "never learned what a blank means" in text
        if model == "unseen_abstain":
            assert 'id="abstained"' in text and 'id="risk-value"' not in text
        else:
            assert 'id="risk-value"' in text and "percentage points" in text


def test_the_card_says_where_the_table_came_from_and_reports_subgroups_on_features(
        served: tuple[TestClient, str, Settings]) -> None:
    client, key, _ = served
    card = client.get("/v1/models/unseen_abstain/card", params={"format": "markdown"},
                      headers={"Authorization": f"Bearer {key}"})
    assert card.status_code == 200
    text = card.text
    assert "built by pmed from raw files" not in text and "the user's own table `cohort.csv`" in text
    assert "enters only through the baselines" not in text
    assert "| Sensitive attributes used as features | sex_male |" in text
    assert "| sex_male | 0 |" in text and "| sex_male | 1 |" in text  # a subgroup that is also a feature
    assert "| prs_z | Q1 " in text and "| prs_z | Q4 " in text  # a continuous column, reported by quartile
    assert "(`missing_unseen: abstain`)" in text


def test_the_unit_rules_old_bundles_and_the_threshold() -> None:
    """A bundle written before the setting (missing_unseen null) answers as before; the threshold is < 1%."""
    old = toy_artifact([{"name": "a", "training_missing_rate": 0.02},
                        {"name": "b", "training_missing_rate": 0.0, "example": 1.0}], max_missing_importance=1.0)
    row = np.array([np.nan, np.nan])
    assert old.missing_unseen is None and assess(old, row).abstain_reason is None
    new = old.model_copy(update={"missing_unseen": "abstain"})
    reason = assess(new, row).abstain_reason
    assert reason is not None and reason.startswith("b was not provided") and "a was" not in reason
    assert assess(new, np.array([np.nan, 1.0])).abstain_reason is None  # 2% missing in training: seen enough
    assert UNSEEN_MISSING_RATE == 0.01
    warned = old.model_copy(update={"missing_unseen": "warn"})
    kinds = [(f.kind, f.feature) for f in assess(warned, row).flags]
    assert kinds == [("missing", "a"), ("missing_unseen", "b")] and assess(warned, row).abstain_reason is None
    with_effect = assess(warned, row, effects={1: -3.21}).flags[1].message
    assert "3.2 percentage points higher" in with_effect
