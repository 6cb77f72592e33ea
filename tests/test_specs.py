"""Every model spec in models/ validates, resolves every feature through the one definition, and the artifact
its task would write carries exactly the spec's features; ``pmed spec check`` says so per file."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from features.cohorts import DEFINITIONS
from kernel.artifacts import parse_artifact
from pmed.cli import app
from training.data import describe_features
from training.run import artifact_fields
from training.spec import ModelSpec, feature_definitions, load_spec
from training.task import task_for

MODELS = sorted((Path(__file__).parents[1] / "models").glob("*.yaml"))


def _artifact_features(spec: ModelSpec) -> list[dict[str, object]]:
    """What the spec's task would write for its features, from a small synthetic training matrix."""
    definitions = feature_definitions(spec)
    X = np.array([[f.min, f.max] for f in definitions], dtype=np.float64).T
    if spec.task == "treatment_response":  # the treatment task describes features from the fitted trial
        from training.treatment.effect import LearnerParams, TreatmentEffectModel
        from training.treatment.task import treatment_artifact

        train = pd.DataFrame(X, columns=list(spec.features))
        return treatment_artifact(spec, train, TreatmentEffectModel(list(spec.features[:-1]), "binary",
                                                                    LearnerParams())).model_dump()["features"]
    return describe_features(spec, X)


def test_models_folder_holds_every_kind_of_model() -> None:
    assert {load_spec(p).task for p in MODELS} == {"risk_classification", "dose_regression", "treatment_response",
                                                  "survival"}


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_spec_resolves_every_feature_and_its_artifact_carries_exactly_them(path: Path) -> None:
    spec = load_spec(path)
    task_for(spec.task)  # a task implements it
    declared = {f.name for f in spec.declared_features}
    assert all(name in DEFINITIONS or name in declared for name in spec.features)
    features = _artifact_features(spec)
    raw = artifact_fields(spec, features)
    if spec.task == "treatment_response":
        raw["treatment"] = {"feature": "treated", "arms": ["clopidogrel", "ticagrelor"], "reference": "clopidogrel",
                            "effect": "ticagrelor minus clopidogrel", "learner": "S-learner (XGBoost)"}
    if spec.task == "survival":
        part = spec.part("survival")
        raw.update(horizon_days=part.horizon_days, time_column=part.time_column, event_column=part.event_column)
    artifact = parse_artifact(raw)
    assert artifact.model == spec.name
    assert artifact.feature_names == list(spec.features)
    for feature, definition in zip(artifact.features, feature_definitions(spec), strict=True):
        assert (feature.min, feature.max, feature.unit, feature.kind) == (definition.min, definition.max,
                                                                         definition.unit, definition.kind)
        assert feature.modifiable == definition.modifiable and feature.required == definition.required


def test_a_name_shared_by_cohorts_has_one_definition() -> None:
    """weight_kg is the trial's and the IWPC cohort's; current_smoker the EHR table's and the trial's."""
    specs = [load_spec(p) for p in MODELS]
    by_name = {s.name: dict(zip(s.features, feature_definitions(s), strict=True)) for s in specs}
    assert by_name["warfarin_dose"]["weight_kg"] is by_name["antiplatelet_response"]["weight_kg"]
    assert by_name["antiplatelet_response"]["current_smoker"] is DEFINITIONS["current_smoker"]
    assert by_name["antiplatelet_response"]["current_smoker"].modifiable


def test_warfarin_keeps_the_iwpc_name_of_the_registry_vkorc1_feature() -> None:
    alias, original = DEFINITIONS["vkorc1_1639_a_count"], DEFINITIONS["vkorc1_1639a_alleles"]
    assert (alias.min, alias.max, alias.kind, alias.concept) == (original.min, original.max, original.kind,
                                                                original.concept)


def test_spec_check_says_ok_per_file() -> None:
    result = CliRunner().invoke(app, ["spec", "check", *map(str, MODELS)])
    assert result.exit_code == 0, result.output
    assert [line for line in result.output.splitlines() if line.startswith("[pmed] OK")] == \
        [f"[pmed] OK {p}" for p in MODELS]


def test_spec_check_names_file_and_key_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(MODELS[0].read_text(encoding="utf-8") + "\nlearning_rat: 0.1\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["spec", "check", str(MODELS[0]), str(bad)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if "error" in line]
    assert len(errors) == 1 and str(bad) in errors[0] and "learning_rat" in errors[0]


def test_an_unknown_task_is_an_error_naming_the_known_ones(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(MODELS[0].read_text(encoding="utf-8").replace("task: ", "task: survival_x #"), encoding="utf-8")
    result = CliRunner().invoke(app, ["spec", "check", str(spec)])
    assert result.exit_code == 1 and "survival_x" in result.output and "risk_classification" in result.output


def test_tasks_are_found_by_discovery_one_per_subpackage() -> None:
    import importlib
    import pkgutil

    import training
    from training.task import tasks

    packages = [m.name for m in pkgutil.iter_modules(training.__path__) if m.ispkg]
    assert {importlib.import_module(f"training.{p}").TASK.name for p in packages} == set(tasks())


def test_a_new_task_brings_its_own_spec_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a training/survival/ subpackage would do: its TASK names a spec part, and nothing else is edited."""
    from pydantic import BaseModel, ConfigDict

    import training.discovery
    from training.gates import GateResult

    class SurvivalPart(BaseModel):
        model_config = ConfigDict(extra="forbid", frozen=True)
        time_column: str

    class SurvivalTask:
        name, target_kind, baselines = "survival_demo", "outcome", ("kaplan_meier",)
        spec_parts: ClassVar[dict[str, type[BaseModel]]] = {"survival_demo": SurvivalPart}
        checked: ClassVar[list[str]] = []

        def check_spec(self, spec: ModelSpec) -> None:
            self.checked.append(spec.part("survival_demo").time_column)

        def gates(self, *_: object) -> list[GateResult]:
            return []

    known = {**training.discovery.discovered(), "survival_demo": SurvivalTask()}
    monkeypatch.setattr(training.discovery, "discovered", lambda: known)  # as if found in training/survival_demo/
    raw = {"name": "cad_survival", "description": "d", "intended_use": "u", "task": "survival_demo",
           "target": "cad_10y", "features": ["age_years"], "baselines": ["kaplan_meier"],
           "survival_demo": {"time_column": "years_to_event"}}
    spec = ModelSpec.model_validate(raw)
    assert spec.part("survival_demo") == SurvivalPart(time_column="years_to_event")
    assert SurvivalTask.checked == ["years_to_event"]
    with pytest.raises(ValueError, match="survival_demo"):
        ModelSpec.model_validate({**raw, "survival_demo": {"time_colum": "x"}})
    with pytest.raises(ValueError, match="Extra inputs"):
        ModelSpec.model_validate({**raw, "survivl": {}})


def test_a_spec_key_two_tasks_claim_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two task subpackages defining the same spec key would make a spec mean two things: refused, naming both."""
    from pydantic import BaseModel

    import training.discovery

    class Part(BaseModel):
        horizon_days: int

    class Claimer:
        baselines: tuple[str, ...] = ()
        spec_parts: ClassVar[dict[str, type[BaseModel]]] = {"follow_up": Part}

        def __init__(self, name: str) -> None:
            self.name = name

    class OtherPart(BaseModel):
        horizon_days: int

    second = Claimer("second")
    second.spec_parts = {"follow_up": OtherPart}
    known = {**training.discovery.discovered(), "first": Claimer("first"), "second": second}
    monkeypatch.setattr(training.discovery, "discovered", lambda: known)
    with pytest.raises(ValueError, match="'follow_up' of task second is already task first's"):
        ModelSpec.model_validate({"name": "x_model", "description": "d", "intended_use": "u", "task": "first",
                                  "target": "t", "features": ["age_years"], "follow_up": {"horizon_days": 1}})
