"""The treatment-response task (``task: treatment_response``): the outcome under each arm of a randomised trial.

Its spec (``models/antiplatelet_response.yaml``) names the arms, the treatment column, the outcome and its
horizon, the covariates (resolved through ``features.cohorts``), the learner and the gates as data. Reading,
holding out and scoring a trial are ``training.treatment.trials``'s; this module fits and calibrates the
ensemble on them, adapts them to the task seam (``training.task.Task``) and builds the typed artifact.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from pydantic import BaseModel
from typing_extensions import override

from features.trial import ARMS, FEATURES
from kernel.artifact import Artifact
from kernel.artifacts.treatment import TreatmentArtifact, TreatmentInfo
from kernel.calibration import SigmoidCalibrator
from kernel.progress import progress_bar
from training.card import Section
from training.gates import GateResult, check_rules
from training.run import artifact_fields
from training.spec import ModelSpec, TreatmentGates, feature_definitions
from training.task import Evaluation, Progress, RunInputs, RunRecord, TargetKind, Task
from training.treatment import trials
from training.treatment.effect import LearnerParams, TreatmentEffectModel

LEARNER = "S-learner (XGBoost)"


@dataclass
class TrialFit:
    """The fitted ensemble, the patients it saw and the ones it is judged on (with their truth, if simulated)."""

    model: TreatmentEffectModel
    train: pd.DataFrame
    test: pd.DataFrame
    truth: pd.DataFrame | None

    @property
    def simulated(self) -> bool:
        """Judged against known true effects (only a simulated trial has them)."""
        return self.truth is not None


class TreatmentTask(Task):
    name = "treatment_response"
    target_kind: TargetKind = "outcome"
    baselines = ("all_clopidogrel", "all_ticagrelor", "cpic_rule")  # always reported beside the model's rule
    spec_parts: ClassVar[dict[str, type[BaseModel]]] = {}  # no spec keys of its own beyond ModelSpec's

    @override
    def check_spec(self, spec: ModelSpec) -> None:
        """Arms of the trial format, a treatment indicator among the features, gates for both kinds of trial."""
        part = spec.treatment
        if part is None:
            raise ValueError("treatment_response needs treatment: {reference, compared, ...}")
        if (part.reference, part.compared) != ARMS:
            raise ValueError(f"treatment: pmed's trial format has arms {ARMS[0]} (reference) and {ARMS[1]}")
        if spec.horizon_years is None:
            raise ValueError("treatment_response needs horizon_years (the outcome's horizon)")
        if list(spec.features) != [*FEATURES, part.feature]:
            raise ValueError(f"features: a trial model takes the trial's covariates then {part.feature}: "
                             f"{', '.join([*FEATURES, part.feature])}")
        if not isinstance(spec.gates, TreatmentGates):
            raise ValueError("treatment_response takes gates: {simulated: [...], real: [...]}")
        spec.fill_default("baselines", list(self.baselines))

    @override
    def fit(self, spec: ModelSpec, inputs: RunInputs, progress: Progress) -> TrialFit:
        return self.fit_with(spec, inputs, trials.learner_params(spec))

    def fit_with(self, spec: ModelSpec, inputs: RunInputs, params: LearnerParams) -> TrialFit:
        """Read the trials, hold out patients (without a test trial), fit, and calibrate the interval."""
        if inputs.trial is None:
            raise ValueError(f"{spec.name}: a treatment model is fitted on a trial (--trial DIR)")
        calibration, test_dir = inputs.calibration, inputs.test
        if calibration is not None and not (calibration / "truth.csv").is_file():
            raise ValueError(f"{calibration}: interval calibration needs the true effects (truth.csv), which "
                             "only a simulated trial has; leave --calibration out for a real trial")
        train = trials.load_trial(inputs.trial, inputs.quarantine_dir)
        if test_dir is None:
            train, test = trials.split_holdout(train, inputs.holdout, params.seed)
            truth_dir = inputs.trial
        else:
            test, truth_dir = trials.load_trial(test_dir, inputs.quarantine_dir), test_dir
        outcome = spec.treatment.outcome if spec.treatment else "binary"
        with progress_bar("effect boosters (full data + bootstrap)", params.n_bootstrap + 1) as advance:
            model = TreatmentEffectModel(list(FEATURES), outcome, params).fit(
                trials.matrix(train), train[spec.treatment.feature if spec.treatment else "treated"].to_numpy(),
                train[spec.target].to_numpy(), advance)
        if calibration is not None:
            rows = trials.load_trial(calibration, inputs.quarantine_dir)
            model.calibrate(trials.matrix(rows), trials.truth_for(calibration, rows)["true_effect"].to_numpy())
        truth = trials.truth_for(truth_dir, test) if (truth_dir / "truth.csv").is_file() else None
        return TrialFit(model, train, test, truth)

    @override
    def evaluate(self, spec: ModelSpec, fitted: TrialFit, figures_dir: Path, progress: Progress) -> Evaluation:
        metrics, policies, groups = trials.evaluate(fitted.model, fitted.test, fitted.truth)
        return Evaluation(metrics, {"policies": {"rows": policies}, "effect_groups": {"rows": groups}})

    @override
    def gates(self, spec: ModelSpec, fitted: TrialFit, evaluation: Evaluation, client: MlflowClient
              ) -> list[GateResult]:
        gates = spec.gates
        assert isinstance(gates, TreatmentGates)  # check_spec
        return check_rules(gates.simulated if fitted.simulated else gates.real, evaluation.metrics)

    @override
    def artifact(self, spec: ModelSpec, fitted: TrialFit, evaluation: Evaluation) -> TreatmentArtifact:
        return treatment_artifact(spec, fitted.train, fitted.model, simulated=fitted.simulated)

    @override
    def card_sections(self, spec: ModelSpec, evaluation: Evaluation, gates: list[GateResult],
                      context: dict[str, str], artifact: Artifact) -> list[Section] | None:
        return None  # the policies and effect groups are the run's reports; no card yet

    @override
    def record(self, spec: ModelSpec, inputs: RunInputs, fitted: TrialFit, evaluation: Evaluation,
               gates: list[GateResult]) -> RunRecord:
        model = fitted.model
        return RunRecord(booster=model.boosters_[0], calibrator=SigmoidCalibrator(), metrics=evaluation.metrics,
                         params={f"learner.{k}": v for k, v in asdict(model.params).items()},
                         tags={"pmed.model": spec.name}, reports=evaluation.report, spec_path=inputs.spec_path,
                         extras=model.save)


def treatment_artifact(spec: ModelSpec, train: pd.DataFrame, model: TreatmentEffectModel,
                       simulated: bool = True) -> TreatmentArtifact:
    """Each feature's one definition plus what the fitted patients showed; the arms and the interval's terms."""
    part = spec.treatment
    assert part is not None  # check_spec
    features = []
    for feature in feature_definitions(spec):
        values = train[feature.name].to_numpy(dtype=np.float64) if feature.name in train else np.array([0.0, 1.0])
        seen = values[~np.isnan(values)]
        features.append({**feature.public(), "example": float(np.median(seen)), "training_min": float(seen.min()),
                         "training_max": float(seen.max()),
                         "training_missing_rate": float(1 - seen.size / values.size)})
    info = TreatmentInfo(feature=part.feature, arms=[part.reference, part.compared], reference=part.reference,
                         effect=f"{part.compared} minus {part.reference}", learner=LEARNER, outcome=model.outcome,
                         interval_k=model.interval_k, interval_c=model.interval_c, simulated=simulated)
    return TreatmentArtifact.model_validate({
        **artifact_fields(spec, features), "treatment": info, "decision_thresholds": [],
        "description": f"{spec.description} " + ("(simulated trial)" if simulated else
                                                 "(randomised trial supplied by the user)"),
        "intended_use": part.simulated_intended_use if simulated else spec.intended_use,
        "calibration": "none (the S-learner's own probabilities)"})


TASK = TreatmentTask()
