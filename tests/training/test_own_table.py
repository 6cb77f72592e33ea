"""Bring your own table: a dataset shaped nothing like the simulator's trains, registers and serves."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient

from kernel.settings import Settings
from serving.app import create_app
from serving.auth import issue_key
from training.data import DataError
from training.pipeline import train_from_spec

SPEC = {
    "name": "hf_readmission",
    "description": "30-day readmission after a heart-failure admission (a user's own cohort).",
    "intended_use": "Test of the bring-your-own-table path; not a clinical model.",
    "target": "readmitted_30d",
    "horizon_years": 0.08,
    "id_column": "subject",
    "features": ["age_years", "ntprobnp_pg_ml", "ef_pct", "prior_admissions"],
    "declared_features": [
        {"name": "ntprobnp_pg_ml", "display_name": "NT-proBNP", "unit": "pg/mL", "kind": "continuous",
         "min": 0, "max": 70000, "source": "ehr"},
        {"name": "ef_pct", "display_name": "Ejection fraction", "unit": "%", "kind": "continuous", "min": 5,
         "max": 85, "required": True},
        {"name": "prior_admissions", "display_name": "Admissions in the past year", "unit": "count",
         "kind": "count", "min": 0, "max": 50},
    ],
    "monotone_constraints": {"ntprobnp_pg_ml": 1},
    "subgroups": ["sex"],
    "gates": {"min_auroc": 0.6, "calibration_slope": [0.5, 2.0], "min_test_events": 10},
}


def _table(path: Path, n: int = 2500, seed: int = 4) -> Path:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "subject": [f"S-{i:05d}" for i in range(n)], "sex": rng.choice(["F", "M"], n),
        "age_years": rng.integers(40, 95, n), "ntprobnp_pg_ml": np.round(rng.lognormal(7.5, 1.0, n), 0),
        "ef_pct": rng.integers(15, 70, n), "prior_admissions": rng.poisson(1.2, n), "ward": rng.choice(["a", "b"], n),
    })
    logit = -2.2 + 0.6 * (np.log(frame["ntprobnp_pg_ml"]) - 7.5) - 0.03 * (frame["ef_pct"] - 40) \
        + 0.35 * frame["prior_admissions"]
    frame["readmitted_30d"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame.loc[frame.sample(frac=0.05, random_state=1).index, "ntprobnp_pg_ml"] = np.nan
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "hf_readmission.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    return path


def test_own_table_trains_registers_and_serves_its_declared_features(settings: Settings, spec_file: Path,
                                                                     tmp_path: Path) -> None:
    outcome = train_from_spec(spec_file, None, settings, table=_table(tmp_path / "cohort.csv"))
    assert outcome.promoted and outcome.metrics["auroc"] > 0.6
    serving = settings.model_copy(update={"served_models": ["hf_readmission"]})
    key = issue_key(serving.keys_file, "app", "application")[1]
    with TestClient(create_app(serving)) as client:
        deadline = time.monotonic() + 60
        while client.get("/ready").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        headers = {"Authorization": f"Bearer {key}"}
        meta = client.get("/v1/models/hf_readmission", headers=headers).json()
        assert [f["name"] for f in meta["features"]] == SPEC["features"]
        assert meta["features"][1]["display_name"] == "NT-proBNP" and meta["features"][1]["unit"] == "pg/mL"
        body = {"patients": [{"patient_id": "p1", "features": {f["name"]: f["example"] for f in meta["features"]}}]}
        out = client.post("/v1/models/hf_readmission/predict", json=body, headers=headers)
        assert out.status_code == 200, out.text
        labels = {c["display_name"] for c in out.json()["predictions"][0]["explanation"]["contributions"]}
        assert {"NT-proBNP", "Ejection fraction"} <= labels
        body["patients"][0]["features"]["ef_pct"] = 99
        bad = client.post("/v1/models/hf_readmission/predict", json=body, headers=headers)
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "ef_pct"


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: f.drop(columns=["ef_pct"]), "column(s) ef_pct required by the spec are missing"),
    (lambda f: f.assign(ef_pct=f["ef_pct"].astype(object).where(f.index != 6, "high")),
     "column ef_pct: values must be numbers; 1 row(s) break it (first at row 8)"),
    (lambda f: f.assign(ef_pct=f["ef_pct"].where(f.index != 3, 120)),
     "column ef_pct: values must lie in 5-85 %; 1 row(s) break it (first at row 5)"),
    (lambda f: f.assign(ef_pct=f["ef_pct"].astype(float).where(f.index != 3)),
     "column ef_pct: a required feature may not be empty"),
    (lambda f: f.assign(readmitted_30d=f["readmitted_30d"].where(f.index != 0, 2)),
     "column readmitted_30d: the outcome must be 0, 1 or empty"),
    (lambda f: f.assign(subject="same"), "column subject: ids must be present and unique"),
])
def test_data_that_does_not_fit_the_spec_names_column_and_rule(settings: Settings, spec_file: Path, tmp_path: Path,
                                                              change, message: str) -> None:  # noqa: ANN001
    path = _table(tmp_path / "cohort.csv", n=300)
    change(pd.read_csv(path)).to_csv(path, index=False)
    with pytest.raises(DataError) as caught:
        train_from_spec(spec_file, None, settings, table=path)
    assert message in str(caught.value)
    assert "high" not in str(caught.value) and "120" not in str(caught.value)
