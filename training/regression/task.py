"""The regression task (``task: dose_regression``): a value in a unit with a split-conformal interval.

The warfarin weekly dose is one spec of it (``models/warfarin_dose.yaml``). Evaluated site-held-out:
each fold of whole sites is predicted by a model that never saw them, beside the spec's named baselines
(the IWPC pharmacogenetic and clinical algorithms, their form refitted, a fixed dose); the served model
is then a final fit on all sites. The alias moves only when the gates pass on the pooled predictions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from mlflow import MlflowClient
from pydantic import BaseModel
from typing_extensions import override

from kernel.artifact import Artifact
from kernel.artifacts.regression import RegressionArtifact
from kernel.progress import progress_bar
from training.card import Section
from training.data import describe_features, load_inputs
from training.fit import TrainingData
from training.gates import GateResult, check_dose_gates
from training.importance import mean_abs_shap
from training.regression.card import dose_card_sections
from training.regression.fit import DoseFittedModel, dose_settings, fit_dose_model
from training.regression.report import comparison_lines, evaluate_by_site
from training.run import artifact_fields, run_params, run_tags
from training.spec import DoseGates, DoseModel, ModelSpec
from training.split import Split, split_all
from training.task import Evaluation, Progress, RunInputs, RunRecord, TargetKind, Task

UNIT = "mg/week"


@dataclass
class DoseFit:
    """The final fit on all sites, with the data it saw."""

    data: TrainingData
    split: Split
    fitted: DoseFittedModel
    sources: list[Path]
    importance: dict[str, float] = field(default_factory=dict)  # mean |SHAP| on the validation patients


class RegressionTask(Task):
    name = "dose_regression"
    target_kind: TargetKind = "dose"
    baselines = ("iwpc_pharmacogenetic", "iwpc_clinical", "iwpc_form_refit", "fixed_35mg_week")
    spec_parts: ClassVar[dict[str, type[BaseModel]]] = {}  # no spec keys of its own beyond ModelSpec's

    @override
    def check_spec(self, spec: ModelSpec) -> None:
        """Dose gates, site folds and the dose settings (defaults filled when left out)."""
        spec.fill_default("gates", DoseGates())
        if not isinstance(spec.gates, DoseGates):
            raise ValueError("dose_regression takes dose gates (max_mae, min_pw20, min_r2, ...)")
        if spec.dose is None:
            object.__setattr__(spec, "dose", DoseModel())
        if not spec.split.folds:
            raise ValueError("dose_regression needs split: {by: site, folds: N} (site-held-out evaluation)")

    @override
    def fit(self, spec: ModelSpec, inputs: RunInputs, progress: Progress) -> DoseFit:
        data, sources = load_inputs(spec, inputs, progress)
        progress(f"{len(data.y)} patients from {data.cohort[spec.split.site_column].nunique()} sites; "
                 f"{spec.split.folds} site-held-out folds, then a final fit on all sites")
        split = split_all(data.keys, spec.split, spec.seed)
        with progress_bar("boosting rounds (final fit)", spec.xgboost.n_estimators) as advance:
            fitted = fit_dose_model(spec, data, split, advance)
        importance = mean_abs_shap(fitted.booster, data.X[split.validation], list(spec.features))["feature"]
        return DoseFit(data, split, fitted, sources, importance)

    @override
    def evaluate(self, spec: ModelSpec, fitted: DoseFit, figures_dir: Path, progress: Progress) -> Evaluation:
        by_site = evaluate_by_site(spec, fitted.data, progress)
        for line in comparison_lines(by_site.report):
            progress(line)
        metrics = {**by_site.metrics, "best_iteration": float(fitted.fitted.best_iteration),
                   "interval_log_halfwidth": fitted.fitted.calibrator.log_halfwidth}
        return Evaluation(metrics, by_site.report)

    @override
    def gates(self, spec: ModelSpec, fitted: DoseFit, evaluation: Evaluation, client: MlflowClient
              ) -> list[GateResult]:
        gates = spec.gates
        assert isinstance(gates, DoseGates)  # check_spec
        return check_dose_gates(gates, evaluation.metrics)

    @override
    def artifact(self, spec: ModelSpec, fitted: DoseFit, evaluation: Evaluation) -> RegressionArtifact:
        features = describe_features(spec, fitted.data.X[fitted.split.train], fitted.importance)
        dose = dose_settings(spec)
        return RegressionArtifact.model_validate({**artifact_fields(spec, features), "unit": UNIT,
                                                  "interval_coverage": dose.interval_coverage,
                                                  "target_transform": dose.target_transform})

    @override
    def card_sections(self, spec: ModelSpec, evaluation: Evaluation, gates: list[GateResult],
                      context: dict[str, str], artifact: Artifact) -> list[Section]:
        features = [f.model_dump(mode="json") for f in artifact.features]
        importance = {f.name: f.mean_abs_shap or 0.0 for f in artifact.features}
        importance = dict(sorted(importance.items(), key=lambda kv: -kv[1]))
        return dose_card_sections(spec, evaluation.report, gates, context,
                                  features, importance)

    @override
    def record(self, spec: ModelSpec, inputs: RunInputs, fitted: DoseFit, evaluation: Evaluation,
               gates: list[GateResult]) -> RunRecord:
        dose = dose_settings(spec)
        params = {**run_params(spec, fitted.fitted), "objective": dose.objective,
                  "target_transform": dose.target_transform, "site_folds": spec.split.folds}
        return RunRecord(booster=fitted.fitted.booster, calibrator=fitted.fitted.calibrator,
                         metrics=evaluation.metrics, params=params, tags=run_tags(spec, fitted.sources),
                         reports={"gates": [g.model_dump() for g in gates], "evaluation": evaluation.report},
                         spec_path=inputs.spec_path)  # per-patient predictions stay out of the run


TASK = RegressionTask()
