"""Train, calibrate, evaluate and register the antiplatelet treatment-response model.

On simulated trials, three trials with disjoint seeds play three roles: fit, calibrate the interval
(known true effects; see training/treatment/effect.py) and evaluate (fresh patients, scored against the
truth). On a real trial (no truth.csv) the model is fitted on part of it and judged on held-out patients
(or a second trial) by what randomisation alone supports: each rule's estimated event rate and the
effect-ranking check (``training.treatment.evaluate``); its interval is then the bootstrap's alone, and says so.
Both are evaluated by the truth-free estimates, so a simulated run also shows how close they come.

The model is ``models/antiplatelet_response.yaml`` (``task: treatment_response``); the task's parts are
``training.treatment.task``, reading, holding out and scoring a trial are ``training.treatment.trials``
(re-exported here), and the run's tail is the shared one (``training.run``). The bundle is the usual
pmed bundle (booster.ubj = the full-data S-learner, an identity sigmoid calibrator, the feature spec) plus
the bootstrap boosters and their JSON as extra files with SHA-256 manifest entries.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from kernel.settings import Settings
from training.gates import GateResult, check_rules
from training.run import publish, start_tracking
from training.spec import ModelSpec, TreatmentGates
from training.task import Evaluation, RunInputs
from training.treatment.effect import LearnerParams, TreatmentEffectModel
from training.treatment.task import TASK, TrialFit
from training.treatment.trials import (
    CPIC_RULE,
    MODEL_NAME,
    MODEL_RULE,
    SIMPLE_RULES,
    SPEC_FILE,
    TREATMENT_FEATURE,
    default_spec,
    default_spec_path,
    evaluate,
    learner_params,
    load_trial,
    matrix,
    split_holdout,
)

__all__ = ["CPIC_RULE", "MODEL_NAME", "MODEL_RULE", "SIMPLE_RULES", "SPEC_FILE", "TREATMENT_FEATURE",
           "TreatmentOutcome", "default_spec", "default_spec_path", "evaluate", "fit_and_evaluate", "gates_for",
           "learner_params", "matrix", "register", "split_holdout"]


@dataclass(frozen=True)
class TreatmentOutcome:
    model: TreatmentEffectModel
    metrics: dict[str, float]
    policies: list[dict[str, Any]]
    run_id: str | None = None
    version: str | None = None
    promoted: bool = False
    simulated: bool = True  # evaluated against known true effects
    effect_groups: list[dict[str, float]] = field(default_factory=list)  # GATES on the evaluation patients
    fitted: pd.DataFrame | None = None  # the patients the model was fitted on (the feature spec's ranges)
    spec: ModelSpec | None = None  # the model spec it was fitted under


def fit_and_evaluate(train_dir: Path, calibration_dir: Path | None = None, test_dir: Path | None = None,
                     params: LearnerParams | None = None, holdout: float = 0.3,
                     quarantine_dir: Path | None = None, spec: ModelSpec | None = None) -> TreatmentOutcome:
    """Fit the ensemble on a trial (binary NACE outcome), calibrate its interval where a calibration trial
    with known effects is given, and evaluate on ``test_dir`` or, without one, on a seeded ``holdout``
    share of the trial's patients that the model never sees.

    ``params`` (default: the spec's learner) override the spec's learner settings. Rejected trial rows go
    to ``quarantine_dir`` (one CSV per trial folder); without it they are an error.
    """
    spec = spec or default_spec()
    inputs = RunInputs(default_spec_path(), trial=train_dir, calibration=calibration_dir, test=test_dir,
                       holdout=holdout, quarantine_dir=quarantine_dir)
    fit = TASK.fit_with(spec, inputs, params or learner_params(spec))
    evaluation = TASK.evaluate(spec, fit, Path(), lambda _: None)
    return TreatmentOutcome(fit.model, evaluation.metrics, evaluation.report["policies"]["rows"],
                            simulated=fit.simulated, effect_groups=evaluation.report["effect_groups"]["rows"],
                            fitted=fit.train, spec=spec)


def gates_for(outcome: TreatmentOutcome) -> list[GateResult]:
    """Against the truth on a simulated trial; on a real one, what randomisation supports (the spec's gates)."""
    gates = (outcome.spec or default_spec()).gates
    assert isinstance(gates, TreatmentGates)  # checked by the task when the spec was validated
    return check_rules(gates.simulated if outcome.simulated else gates.real, outcome.metrics)


def register(outcome: TreatmentOutcome, train_dir: Path, settings: Settings,
             extra_metrics: dict[str, float] | None = None,
             extra_reports: dict[str, Any] | None = None, quarantine_dir: Path | None = None) -> TreatmentOutcome:
    """Log the run with its bundle to MLflow, register a version and point ``champion`` at it if the gates pass.

    ``extra_metrics`` and ``extra_reports`` carry what a caller measured beside the model (the bench's
    peers, policies and latency), so one run holds the whole comparison. The tail is the shared one.
    """
    spec = outcome.spec or default_spec(settings.models_dir)
    client = start_tracking(settings, lambda _: None)
    train = outcome.fitted if outcome.fitted is not None else load_trial(train_dir, quarantine_dir)
    truth = pd.DataFrame() if outcome.simulated else None  # only its presence matters from here on
    fit = TrialFit(outcome.model, train, train, truth)
    evaluation = _outcome_evaluation(outcome, extra_metrics, extra_reports)
    gates = gates_for(outcome)
    with tempfile.TemporaryDirectory() as tmp:
        record = TASK.record(spec, _inputs(settings, train_dir), fit, evaluation, gates)
        logged = publish(client, spec.name, TASK.artifact(spec, fit, evaluation), record, gates, Path(tmp))
    return replace(outcome, run_id=logged.run_id, version=logged.version, promoted=logged.promoted)


def _outcome_evaluation(outcome: TreatmentOutcome, extra_metrics: dict[str, float] | None,
                        extra_reports: dict[str, Any] | None) -> Evaluation:
    """An evaluation already made (``fit_and_evaluate``), with what a caller measured beside it."""
    return Evaluation({**outcome.metrics, **(extra_metrics or {})},
                      {"policies": {"rows": outcome.policies}, "effect_groups": {"rows": outcome.effect_groups},
                       **(extra_reports or {})})


def _inputs(settings: Settings, train_dir: Path) -> RunInputs:
    return RunInputs(default_spec_path(settings.models_dir), trial=train_dir)
