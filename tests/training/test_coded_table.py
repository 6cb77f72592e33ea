"""Data as it comes, end to end: a table with a text categorical, a binary coded 1/2 and two out-of-range rows
(``on_invalid: quarantine``) trains a risk model and a survival model (real XGBoost, real MLflow in tmp), both are
served, and a request with the level as written (``"adeno"``) is answered with one contribution for the
categorical feature, its value shown as the level."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from kernel.settings import Settings
from serving.auth import issue_key
from tests.serving.helpers import ready_client
from training.pipeline import train_from_spec

LEVELS = ["squamous", "smallcell", "adeno", "large"]
DECLARED = [
    {"name": "celltype", "display_name": "Cell type", "kind": "categorical", "levels": LEVELS},
    {"name": "treatment", "display_name": "Test chemotherapy", "kind": "binary", "codes": ["standard", "test"]},
    {"name": "sex12", "display_name": "Sex", "kind": "binary", "codes": [1, 2]},
    {"name": "karno", "display_name": "Karnofsky score", "unit": "points", "kind": "continuous", "min": 10,
     "max": 100},
]
COMMON: dict[str, Any] = {
    "intended_use": "Test of coded features; not a clinical model.", "id_column": "patient",
    "features": ["celltype", "treatment", "sex12", "karno"], "declared_features": DECLARED,
    "on_invalid": "quarantine", "subgroups": [], "bootstrap_samples": 20,
    "xgboost": {"max_depth": 2, "learning_rate": 0.1, "n_estimators": 200, "early_stopping_rounds": 20},
}
RISK = {**COMMON, "name": "coded_risk", "description": "Death within a year (simulated).", "target": "died_1y",
        "horizon_years": 1, "baselines": [],
        "gates": {"min_auroc": 0.5, "calibration_slope": [0.1, 10], "min_test_events": 5,
                  "max_auroc_drop_vs_champion": None, "max_auroc_deficit_vs_linear": None}}
SURVIVAL = {**COMMON, "name": "coded_survival", "task": "survival", "description": "Survival (simulated).",
            "target": "death", "survival": {"time_column": "days", "event_column": "died", "horizon_days": 365},
            "survival_gates": {"min_c_index": 0.5, "min_test_events": 5}}


def _cohort(path: Path, n: int = 700, seed: int = 11) -> Path:
    rng = np.random.default_rng(seed)
    cell = rng.choice(LEVELS, n)
    effect = pd.Series(cell).map({"squamous": 0.0, "smallcell": 0.9, "adeno": 1.2, "large": 0.2}).to_numpy()
    treatment, sex, karno = rng.choice(["standard", "test"], n), rng.integers(1, 3, n), rng.integers(20, 100, n)
    hazard = np.exp(-6.5 + effect + 0.3 * (treatment == "test") - 0.02 * (karno - 60))
    event_day, censor_day = rng.exponential(1 / hazard), rng.uniform(200, 900, n)
    days, died = np.ceil(np.minimum(event_day, censor_day)), (event_day <= censor_day).astype(int)
    frame = pd.DataFrame({"patient": [f"P{i:04d}" for i in range(n)], "celltype": cell, "treatment": treatment,
                          "sex12": sex, "karno": karno.astype(float), "days": days, "died": died})
    frame["died_1y"] = np.where(died & (days <= 365), 1, np.where(days > 365, 0, np.nan))
    frame.loc[[4, 40], "karno"] = [150.0, 3.0]  # implausible: quarantined, not refusing the table
    frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("spec", [RISK, SURVIVAL], ids=["risk", "survival"])
def test_a_coded_table_trains_quarantines_and_serves_levels_as_written(settings: Settings, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       spec: dict[str, Any]) -> None:
    monkeypatch.setenv("PMED_HOME", str(settings.resolved_home))  # a task that reads no quarantine folder
    spec_file = tmp_path / f"{spec['name']}.yaml"
    spec_file.write_text(yaml.safe_dump(spec))
    said: list[str] = []
    outcome = train_from_spec(spec_file, None, settings, table=_cohort(tmp_path / "cohort.csv"),
                              progress=said.append)
    assert outcome.promoted, [g for g in outcome.gates if not g.passed]
    quarantined = pd.read_csv(settings.quarantine_dir / f"table-{spec['name']}.csv")
    assert quarantined[["row", "field"]].values.tolist() == [[6, "karno"], [42, "karno"]]
    assert (quarantined["rule"] == "values must lie in 10-100 points").all()
    assert spec.get("task") == "survival" or any("quarantined 2 of 700 row(s)" in line for line in said)

    serving = settings.model_copy(update={"served_models": [spec["name"]]})
    key = issue_key(serving.keys_file, "app", "application")[1]
    headers = {"Authorization": f"Bearer {key}"}
    with ready_client(serving) as client:
        meta = client.get(f"/v1/models/{spec['name']}", headers=headers).json()
        cell = meta["features"][0]
        assert cell["levels"] == LEVELS and cell["example"] in LEVELS and meta["features"][1]["codes"] == ["standard",
                                                                                                           "test"]
        body = {"patients": [{"patient_id": "p1", "features": {"celltype": "adeno", "treatment": "test", "sex12": 2,
                                                               "karno": 60}}]}
        out = client.post(f"/v1/models/{spec['name']}/predict", json=body, headers=headers)
        assert out.status_code == 200, out.text
        contributions = out.json()["predictions"][0]["explanation"]["contributions"]
        named = [c for c in contributions if c["feature"] == "celltype"]
        assert len(contributions) == 4 and len(named) == 1 and named[0]["value"] == "adeno"
        assert [c["value"] for c in contributions if c["feature"] == "treatment"] == ["test"]
        squamous = {**body["patients"][0]["features"], "celltype": "squamous"}
        other = client.post(f"/v1/models/{spec['name']}/predict", headers=headers,
                            json={"patients": [{"patient_id": "p2", "features": squamous}]}).json()
        assert other["predictions"][0]["risk"] < out.json()["predictions"][0]["risk"]  # adeno carries the risk
        for bad in ({"celltype": "oat"}, {"sex12": 0}, {"treatment": 1}, {"karno": 150}):
            refused = client.post(f"/v1/models/{spec['name']}/predict", headers=headers, json={"patients": [
                {"patient_id": "p3", "features": {**body["patients"][0]["features"], **bad}}]})
            assert refused.status_code == 422 and refused.json()["detail"][0]["loc"][-1] == next(iter(bad))
            assert "oat" not in refused.text
        doc = client.get("/openapi.json", headers=headers).json()
        schemas = doc["components"]["schemas"]
        features = next(v for k, v in schemas.items() if k.endswith("Features") and "celltype" in v["properties"])
        assert features["properties"]["celltype"]["anyOf"][0] == {"enum": LEVELS}
        assert features["properties"]["sex12"]["anyOf"][0] == {"enum": [1, 2]}
        example = doc["paths"][f"/v1/models/{spec['name']}/predict"]["post"]["requestBody"]["content"][
            "application/json"]["example"]
        assert example["patients"][0]["features"]["celltype"] in LEVELS
        documented = client.post(f"/v1/models/{spec['name']}/predict", json=example, headers=headers)
        assert documented.status_code == 200, documented.text  # the documented example is one the server takes
