"""The risk-classification task: a calibrated probability of an outcome within a horizon, from pmed's features.

Split by patient (or site, or time), optional hyperparameter search, XGBoost with early stopping and a
calibrator on validation; evaluated on the test patients beside the spec's baselines (logistic
regression, the Pooled Cohort Equations) and, on a simulated cohort, the true risks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from mlflow import MlflowClient
from pydantic import BaseModel
from sklearn.metrics import roc_auc_score
from typing_extensions import override

from kernel.artifact import Artifact
from kernel.artifacts.risk import RiskArtifact
from kernel.model_registry import version_for_alias
from kernel.progress import progress_bar
from training.card import Section, card_sections
from training.champion import compare_with_champion
from training.cv import cv_headline, cv_report, plan_cv
from training.data import describe_features, load_inputs
from training.evaluate import paired_bootstrap_diff
from training.fit import FittedModel, TrainingData, fit_model
from training.gates import ChampionComparison, GateResult, check_gates
from training.risk.cv import cross_validate, cv_sections
from training.risk.horizon import check_horizon
from training.risk.report import evaluate_model
from training.run import CHAMPION, artifact_fields, run_params, run_tags
from training.search import search_params
from training.spec import Gates, ModelSpec
from training.split import Split, split_cohort
from training.task import Evaluation, Progress, RunInputs, RunRecord, TargetKind, Task


@dataclass
class RiskFit:
    """The fitted model with the data, split and search trials the later steps need."""

    spec: ModelSpec  # the spec with the searched hyperparameters, if any
    data: TrainingData
    split: Split
    fitted: FittedModel
    sources: list[Path]
    trials: list[dict[str, object]] = field(default_factory=list)


class RiskTask(Task):
    name = "risk_classification"
    target_kind: TargetKind = "outcome"
    baselines = ("logistic_regression", "pooled_cohort_equations")
    spec_parts: ClassVar[dict[str, type[BaseModel]]] = {}  # no spec keys of its own beyond ModelSpec's

    @override
    def check_spec(self, spec: ModelSpec) -> None:
        if spec.horizon_years is None:
            raise ValueError("risk_classification needs horizon_years")
        check_horizon(spec.target, spec.horizon_years)
        if not isinstance(spec.gates, Gates):
            raise ValueError("risk_classification takes risk gates (min_auroc, calibration_slope, ...)")

    @override
    def fit(self, spec: ModelSpec, inputs: RunInputs, progress: Progress) -> RiskFit:
        data, sources = load_inputs(spec, inputs, progress)
        split = split_cohort(data.keys, data.cohort, spec.split, spec.seed)
        progress(f"{len(data.y)} patients at risk: train {len(split.train)}, validation {len(split.validation)}, "
                 f"test {len(split.test)}; fitting XGBoost with early stopping")
        trials: list[dict[str, object]] = []
        if spec.search:
            progress(f"searching hyperparameters: up to {spec.search.trials} trials / {spec.search.timeout_seconds} s")
            with progress_bar("hyperparameter trials", spec.search.trials) as advance:
                best, trials = search_params(spec, data, split, advance)
            spec = spec.model_copy(update={"xgboost": best})
            progress(f"best of {len(trials)} trials: {best.model_dump()}")
        with progress_bar("boosting rounds (early stopping may end sooner)", spec.xgboost.n_estimators) as advance:
            fitted = fit_model(spec, data, split, advance)
        progress(f"stopped at round {fitted.best_iteration + 1} of at most {spec.xgboost.n_estimators}")
        return RiskFit(spec, data, split, fitted, sources, trials)

    @override
    def evaluate(self, spec: ModelSpec, fitted: RiskFit, figures_dir: Path, progress: Progress) -> Evaluation:
        progress("evaluating on held-out patients: metrics with bootstrap CIs, baselines, subgroups, decision curve")
        evaluation = evaluate_model(fitted.spec, fitted.data, fitted.split, fitted.fitted, figures_dir)
        progress(_headline(evaluation.metrics))
        gates = fitted.spec.gates
        assert isinstance(gates, Gates)  # check_spec
        plan = plan_cv(fitted.spec.evaluation, int(evaluation.metrics["events"]), gates.min_test_events)
        if plan is not None:
            progress(f"evaluation: {plan.describe()}; the gates judge the cross-validated figures")
            evaluation.metrics.update(cross_validate(fitted.spec, fitted.data, plan, progress))
            evaluation.report["cross_validation"] = cv_report(plan, evaluation.metrics)
            progress(cv_headline(evaluation.metrics, "auroc", "AUROC"))
        return evaluation

    @override
    def gates(self, spec: ModelSpec, fitted: RiskFit, evaluation: Evaluation, client: MlflowClient
              ) -> list[GateResult]:
        gates = fitted.spec.gates
        assert isinstance(gates, Gates)  # check_spec
        return check_gates(gates, evaluation.metrics, _champion(client, fitted, evaluation.metrics))

    @override
    def artifact(self, spec: ModelSpec, fitted: RiskFit, evaluation: Evaluation) -> RiskArtifact:
        features = describe_features(fitted.spec, fitted.data.X[fitted.split.train],
                                     evaluation.report["importance"]["feature"])
        return RiskArtifact.model_validate(artifact_fields(fitted.spec, features))

    @override
    def card_sections(self, spec: ModelSpec, evaluation: Evaluation, gates: list[GateResult],
                      context: dict[str, str], artifact: Artifact) -> list[Section]:
        features = [f.model_dump(mode="json") for f in artifact.features]
        sections = card_sections(spec, evaluation.report, gates, context, evaluation.figures, features)
        return [*sections, *cv_sections(evaluation.report)]

    @override
    def record(self, spec: ModelSpec, inputs: RunInputs, fitted: RiskFit, evaluation: Evaluation,
               gates: list[GateResult]) -> RunRecord:
        return RunRecord(
            booster=fitted.fitted.booster, calibrator=fitted.fitted.calibrator, metrics=evaluation.metrics,
            params=run_params(fitted.spec, fitted.fitted), tags=run_tags(spec, fitted.sources),
            reports={"gates": [g.model_dump() for g in gates], "evaluation": evaluation.report},
            spec_path=inputs.spec_path, trials=fitted.trials,
            files={"evaluation/figures": evaluation.figures,  # the Markdown card links figures/*.png
                   "model_card/figures": evaluation.figures})


def _headline(metrics: dict[str, Any]) -> str:
    return (f"test AUROC {metrics['auroc']:.3f} (95% CI {metrics['auroc_ci_low']:.3f}-"
            f"{metrics['auroc_ci_high']:.3f}), calibration slope {metrics['calibration_slope']:.2f}"
            + (f", oracle AUROC {metrics['oracle_auroc']:.3f}" if "oracle_auroc" in metrics else "")
            + "".join(f", {k.removesuffix('.auroc')} {v:.3f}" for k, v in metrics.items()
                      if k.endswith(".auroc") and not k.startswith("subgroup")))


def _champion(client: MlflowClient, fit: RiskFit, metrics: dict[str, float]) -> ChampionComparison | None:
    """The candidate against the current champion on the same test patients (paired bootstrap of the AUROC
    difference) and against the best version ever promoted (the vs_champion gate), if it applies."""
    spec, data, split = fit.spec, fit.data, fit.split
    champion = version_for_alias(client, spec.name, CHAMPION)
    if champion is None or not isinstance(spec.gates, Gates) or spec.gates.max_auroc_drop_vs_champion is None:
        return None
    y = data.y[split.test]

    def paired(candidate: np.ndarray, other: np.ndarray) -> tuple[float, float, float]:
        return paired_bootstrap_diff(y, candidate, other, roc_auc_score, spec.seed, spec.bootstrap_samples)

    return compare_with_champion(client, spec.name, str(champion.version), data.source, data.keys.iloc[split.test],
                                 fit.fitted.risk(data.X[split.test]), metrics["auroc"], paired, "AUROC", "auroc")


TASK = RiskTask()
