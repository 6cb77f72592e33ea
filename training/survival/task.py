"""The survival task (``task: survival``): P(event by ``horizon_days``) from a user's table of follow-up times.

Every patient is kept, censored ones included (``training.survival.fit``); the booster is XGBoost
``survival:cox``, its risk at the horizon comes from a Breslow baseline estimated on the validation patients,
and it is evaluated on the test patients beside a linear Cox model, Kaplan-Meier and the naive binary model
that drops the censored (``training.survival.baselines``). Its spec keys are its own (``survival``,
``survival_gates``: ``training.survival.parts``), so nothing outside this package lists it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from mlflow import MlflowClient
from pydantic import BaseModel
from typing_extensions import override

from kernel.artifact import Artifact
from kernel.artifacts.survival import DAYS_PER_YEAR, SurvivalArtifact
from kernel.progress import progress_bar
from training.card import Section
from training.cv import cv_headline, cv_report, plan_cv
from training.data import describe_features
from training.errors import DataError
from training.fit import FittedModel
from training.gates import GateResult
from training.importance import mean_abs_shap
from training.risk.cv import cv_sections
from training.run import artifact_fields, run_params, run_tags
from training.spec import ModelSpec
from training.split import Split
from training.survival import judging, report
from training.survival.evaluation import evaluate_survival
from training.survival.fit import (
    SurvivalData,
    fit_survival,
    load_survival,
    load_survival_folder,
    split_survival,
    survival_sources,
)
from training.survival.parts import SurvivalGates, SurvivalPart, check_survival_gates
from training.task import Evaluation, Progress, RunInputs, RunRecord, TargetKind, Task


@dataclass
class SurvivalFit:
    """The fitted model with the data and split the later steps need."""

    part: SurvivalPart
    survival: SurvivalData
    split: Split
    fitted: FittedModel
    sources: list[Path]
    importance: dict[str, float] = field(default_factory=dict)  # mean |SHAP| (log hazard) on validation


def survival_part(spec: ModelSpec) -> SurvivalPart:
    part = spec.part("survival")
    if not isinstance(part, SurvivalPart):
        raise ValueError("task survival needs survival: {time_column, event_column, horizon_days}")
    return part


def survival_gates(spec: ModelSpec) -> SurvivalGates:
    gates = spec.part("survival_gates")
    return gates if isinstance(gates, SurvivalGates) else SurvivalGates()


class SurvivalTask(Task):
    name = "survival"
    target_kind: TargetKind = "outcome"  # the event column is 0/1; the time column is checked by the task
    baselines = ("cox_ph", "kaplan_meier", "naive_binary")  # always reported
    spec_parts: ClassVar[dict[str, type[BaseModel]]] = {"survival": SurvivalPart, "survival_gates": SurvivalGates}

    @override
    def check_spec(self, spec: ModelSpec) -> None:
        """Its own part present; no risk-style ``gates`` or ``horizon_years`` that it would silently ignore."""
        part = survival_part(spec)
        if "gates" in spec.model_fields_set:
            raise ValueError("task survival takes survival_gates: {min_c_index, observed_expected_at_horizon, ...}, "
                             "not gates")
        if spec.horizon_years is not None:
            raise ValueError("task survival states its horizon as survival.horizon_days; leave horizon_years out")
        clash = {part.time_column, part.event_column} & set(spec.features)
        if clash:
            raise ValueError(f"survival: {', '.join(sorted(clash))} is the outcome, not a feature")
        spec.fill_default("baselines", list(self.baselines))

    @override
    def fit(self, spec: ModelSpec, inputs: RunInputs, progress: Progress) -> SurvivalFit:
        part = survival_part(spec)
        if inputs.table is not None:
            progress(f"loading data for {spec.name} from {inputs.table}")
            survival = load_survival(inputs.table, spec, part, quarantine_dir=inputs.quarantine_dir, progress=progress)
            sources = [inputs.table]
        elif inputs.features_dir is not None:
            progress(f"loading data for {spec.name} from {inputs.features_dir}")
            survival = load_survival_folder(inputs.features_dir, spec, part)
            sources = survival_sources(inputs.features_dir)
        else:
            raise DataError(f"{spec.name}: a survival model trains on follow-up times: give a feature folder or a "
                            "table (--table FILE)")
        split = split_survival(spec, survival, part.horizon_days)
        progress(f"{len(survival.time)} patients ({int(survival.data.y.sum())} events, the rest censored and kept): "
                 f"train {len(split.train)}, validation {len(split.validation)}, test {len(split.test)}")
        with progress_bar("boosting rounds (early stopping may end sooner)", spec.xgboost.n_estimators) as advance:
            fitted = fit_survival(spec, part, survival, split, advance)
        importance = mean_abs_shap(fitted.booster, survival.data.X[split.validation], list(spec.features))
        return SurvivalFit(part, survival, split, fitted, sources, importance["feature"])

    @override
    def evaluate(self, spec: ModelSpec, fitted: SurvivalFit, figures_dir: Path, progress: Progress) -> Evaluation:
        progress("evaluating on held-out patients beside Cox PH, Kaplan-Meier and the naive binary model")
        evaluation = evaluate_survival(spec, fitted.part, fitted.survival, fitted.split, fitted.fitted, figures_dir)
        evaluation.metrics["best_iteration"] = float(fitted.fitted.best_iteration)
        evaluation.metrics.update(judging.cox_comparison(spec, fitted.part, fitted.survival, fitted.split,
                                                         fitted.fitted))
        progress(_headline(evaluation.metrics))
        plan = plan_cv(spec.evaluation, int(evaluation.metrics["test_events"]), survival_gates(spec).min_test_events)
        if plan is not None:
            progress(f"evaluation: {plan.describe()}; the gates judge the cross-validated figures")
            evaluation.metrics.update(judging.cross_validate(spec, fitted.part, fitted.survival, plan, progress))
            evaluation.report["cross_validation"] = cv_report(plan, evaluation.metrics)
            progress(cv_headline(evaluation.metrics, "c_index", "Harrell C"))
        evaluation.report["metrics"] = evaluation.metrics
        return evaluation

    @override
    def gates(self, spec: ModelSpec, fitted: SurvivalFit, evaluation: Evaluation, client: MlflowClient
              ) -> list[GateResult]:
        champion = judging.survival_champion(client, spec, fitted.survival, fitted.split, fitted.fitted,
                                             evaluation.metrics)
        return check_survival_gates(survival_gates(spec), evaluation.metrics, champion)

    @override
    def artifact(self, spec: ModelSpec, fitted: SurvivalFit, evaluation: Evaluation) -> SurvivalArtifact:
        part = fitted.part
        features = describe_features(spec, fitted.survival.data.X[fitted.split.train], fitted.importance)
        return SurvivalArtifact.model_validate({
            **artifact_fields(spec, features), "horizon_years": part.horizon_days / DAYS_PER_YEAR,
            "horizon_days": part.horizon_days, "time_column": part.time_column, "event_column": part.event_column,
            "calibration": f"breslow_horizon (validation Breslow baseline, recalibration: {part.recalibration})"})

    @override
    def card_sections(self, spec: ModelSpec, evaluation: Evaluation, gates: list[GateResult],
                      context: dict[str, str], artifact: Artifact) -> list[Section]:
        return [*report.card_sections(spec, survival_part(spec), evaluation.report, gates, context, evaluation.figures),
                *cv_sections(evaluation.report)]

    @override
    def record(self, spec: ModelSpec, inputs: RunInputs, fitted: SurvivalFit, evaluation: Evaluation,
               gates: list[GateResult]) -> RunRecord:
        part = fitted.part
        params = {**run_params(spec, fitted.fitted), "objective": "survival:cox", "horizon_days": part.horizon_days,
                  "recalibration": part.recalibration, "time_column": part.time_column,
                  "event_column": part.event_column}
        return RunRecord(booster=fitted.fitted.booster, calibrator=fitted.fitted.calibrator,
                         metrics=evaluation.metrics, params=params, tags=run_tags(spec, fitted.sources),
                         reports={"gates": [g.model_dump() for g in gates], "evaluation": evaluation.report},
                         spec_path=inputs.spec_path,
                         files={"evaluation/figures": evaluation.figures, "model_card/figures": evaluation.figures})


def _headline(metrics: dict[str, Any]) -> str:
    return (f"test C {metrics['c_index']:.3f} ({metrics['c_index_ci_low']:.3f}-{metrics['c_index_ci_high']:.3f}), "
            f"observed/expected at the horizon {metrics['observed_expected_at_horizon']:.2f}; Cox PH C "
            f"{metrics.get('cox_ph.c_index', float('nan')):.3f}; naive binary observed/expected "
            f"{metrics.get('naive_binary.observed_expected_at_horizon', float('nan')):.2f}")


TASK = SurvivalTask()
