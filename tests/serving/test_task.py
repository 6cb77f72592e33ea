"""The task seam: every artifact kind has its serving task, found by discovery, and a new kind's
subpackage plugs in (predict, model info, the 404s of what it does not answer) with nothing else edited."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb
from fastapi.testclient import TestClient

import serving
from kernel.artifact import Artifact
from kernel.artifacts import load_kinds, parse_artifact
from kernel.bundle import Bundle
from kernel.calibration import SigmoidCalibrator
from kernel.settings import Settings
from serving.app import create_app
from serving.auth import issue_key
from serving.registry import ModelStore, served_model_from_bundle
from serving.risk.answer import RiskState
from serving.task import served_tasks, task_for
from tests.serving.helpers import toy_artifact

PLUGIN = '''
from typing import ClassVar, Literal

from kernel.artifact import Artifact
from serving.risk.task import RiskTask


class SurvivalArtifact(Artifact):
    TASK: ClassVar[str] = "survival_test"
    task: Literal["survival_test"] = "survival_test"


class SurvivalTask(RiskTask):
    name: ClassVar[str] = "survival_test"
    rank: ClassVar[int] = 9
    what_if: ClassVar[bool] = False
    page = None

    def explanation_scale(self, model):
        return "log cumulative hazard (test)"


TASK = SurvivalTask()
'''


def test_every_artifact_kind_has_its_serving_task() -> None:
    load_kinds()
    assert set(served_tasks()) == set(Artifact.kinds) == {"risk_classification", "dose_regression",
                                                          "treatment_response", "survival"}
    assert all(task_for(name).name == name for name in served_tasks())


@pytest.fixture
def survival_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A ``serving/survival_test/`` subpackage, on ``serving``'s own search path only for this test."""
    (tmp_path / "survival_test").mkdir()
    (tmp_path / "survival_test" / "__init__.py").write_text(textwrap.dedent(PLUGIN))
    monkeypatch.setattr(serving, "__path__", [*serving.__path__, str(tmp_path)])
    served_tasks.cache_clear()
    try:
        yield
    finally:
        Artifact.kinds.pop("survival_test", None)
        sys.modules.pop("serving.survival_test", None)
        served_tasks.cache_clear()


def test_a_new_tasks_subpackage_plugs_in_with_nothing_else_edited(survival_plugin: None, tmp_path: Path) -> None:
    assert "survival_test" in served_tasks()
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (200, 2))
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2, "nthread": 1},
                        xgb.DMatrix(X, label=(X[:, 0] > 0.5).astype(float)), num_boost_round=5)
    spec = parse_artifact({"task": "survival_test", "model": "surv", "description": "d", "intended_use": "u",
                           "target": "death_5y", "horizon_years": 5,
                           "features": [{"name": n, "display_name": n, "unit": "u", "source": "ehr",
                                         "kind": "continuous", "min": 0, "max": 1, "concept": n, "example": 0.5}
                                        for n in ("a", "b")]})
    model = served_model_from_bundle("surv", "1", "champion", Bundle(booster=booster, calibrator=SigmoidCalibrator(),
                                                                      spec=spec, digests={}, cards={}))
    store = ModelStore(expected=["surv"])
    store.put(model)
    settings = Settings(home=tmp_path / ".pmed", served_models=["surv"], _env_file=None)
    headers = {"Authorization": f"Bearer {issue_key(settings.keys_file, 'k', 'clinician')[1]}"}
    body = {"patients": [{"patient_id": "p", "features": {"a": 0.7, "b": 0.2}}]}
    with TestClient(create_app(settings, store=store)) as client:
        info = client.get("/v1/models/surv", headers=headers).json()
        assert info["task"] == "survival_test" and info["explanation_scale"] == "log cumulative hazard (test)"
        answer = client.post("/v1/models/surv/predict", json=body, headers=headers)
        assert answer.status_code == 200 and answer.json()["predictions"][0]["risk"] is not None
        compare = client.post("/v1/models/surv/compare-treatments", json=body, headers=headers)
        what_if = client.post("/v1/models/surv/what-if", headers=headers,
                              json={"patient": body["patients"][0], "changes": {"a": 0.1}})
        page = client.get("/clinician/surv", headers=headers)
    assert compare.status_code == what_if.status_code == page.status_code == 404
    assert "use the JSON API" in page.text


def test_a_risk_answer_states_the_artifacts_horizon() -> None:
    """The risk task keeps the artifact's horizon in the state it builds at load; a bundle without one (a spec
    training refuses) still loads, for its explanations, but no answer states a null horizon."""
    features = [{"name": "x"}]
    assert RiskState.of(toy_artifact(features, horizon_years=10)).horizon == 10
    no_horizon = RiskState.of(toy_artifact(features))
    with pytest.raises(ValueError, match="horizon_years"):
        _ = no_horizon.horizon
