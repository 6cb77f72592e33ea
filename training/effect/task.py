"""The trial task (``task: treatment_effect``): any randomised trial's own table, under its own names.

The spec names the arm column and the arms (``reference`` and one or more ``compared``), the outcome (binary
``target``, continuous ``target`` with ``outcome_kind: continuous``, or time-to-event ``time_column``,
``event_column`` and ``horizon_days``), the covariates (registry or declared, categorical allowed) and the
learner (``training.effect.parts``). ``pmed train SPEC --table trial.csv`` reads the table
(``training.effect.table``), holds out a share of each arm, fits the S-learner ensemble (one indicator per
compared arm, ``kernel.effect_model``), judges it with what randomisation alone supports
(``training.effect.evaluation``) and registers it under the spec's ``name``. The served artifact is the
treatment-response kind (``kernel.artifacts.treatment``), so compare-treatments and the clinician page serve it.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from mlflow import MlflowClient
from pydantic import BaseModel
from typing_extensions import override

from kernel.artifact import Artifact
from kernel.artifacts.survival import BreslowHorizonCalibrator
from kernel.artifacts.treatment import TreatmentArtifact, TreatmentInfo
from kernel.calibration import Calibrator, SigmoidCalibrator
from kernel.progress import progress_bar
from training.card import Section
from training.effect import evaluation as ev
from training.effect.parts import SPEC_PARTS, Arms
from training.effect.table import TrialDesign, TrialTable, read_trial_table
from training.errors import DataError
from training.gates import GateResult, check_rules
from training.run import artifact_fields
from training.spec import GateRule, LearnerSpec, ModelSpec, TreatmentGates, feature_definitions
from training.task import Evaluation, Progress, RunInputs, RunRecord, TargetKind, Task
from training.treatment.effect import LearnerParams, TreatmentEffectModel

LEARNER = "S-learner (XGBoost), one indicator per compared arm"
MODEL_RULE = "model (best predicted arm)"
GATES = 5  # effect groups (GATES) per compared arm
DEFAULT_REAL_GATES = (
    GateRule(name="arm_outcomes_calibrated", rule="every arm's mean predicted outcome inside the CI of its "
             "observed outcome (held-out patients; Bonferroni 95% over the arms)", value="arms_within_ci",
             op=">=", threshold=1.0),
    GateRule(name="policy_vs_simple_rules", rule="model rule's estimated outcome not worse than the best simple "
             "rule's beyond its 95% CI", value="est_model_minus_best_simple",
             check="est_model_minus_best_simple_worse_ci", op="<=", threshold=0.0),
)


@dataclass
class TrialFit:
    """The fitted ensemble, its design, and the held-out patients it is judged on."""

    model: TreatmentEffectModel
    design: TrialDesign
    train: TrialTable
    test: TrialTable
    rows: dict[str, int]


class TreatmentEffectTask(Task):
    name = "treatment_effect"
    target_kind: TargetKind = "outcome"
    baselines = ()  # the simple rules (treat-all per arm, the spec's policy_rules) are always reported
    spec_parts: ClassVar[dict[str, type[BaseModel]]] = SPEC_PARTS

    @override
    def check_spec(self, spec: ModelSpec) -> None:
        arms = spec.part("arms")
        if spec.part("arm_column") is None or arms is None:
            raise ValueError("treatment_effect needs arm_column (the table column naming each patient's arm) and "
                             "arms: {reference: ARM, compared: [ARM, ...]}")
        assert isinstance(arms, Arms)
        if arms.reference in arms.compared:
            raise ValueError(f"arms: the reference {arms.reference} is also listed as compared")
        randomised = spec.part("randomised")
        if randomised is None:
            raise ValueError("treatment_effect needs randomised: true (a randomised trial) or false (observational)")
        if not randomised.root:
            raise ValueError("randomised: false: observational treatment data needs the doubly-robust path with "
                             "overlap diagnostics, which is not built yet; pmed trains randomised trials only")
        outcome = _outcome_kind(spec)
        if outcome == "time_to_event":
            absent = [k for k in ("time_column", "event_column", "horizon_days") if spec.part(k) is None]
            if absent:
                raise ValueError(f"outcome_kind time_to_event needs {', '.join(absent)}")
        elif spec.part("time_column") or spec.part("event_column"):
            raise ValueError(f"time_column/event_column are for outcome_kind time_to_event, not {outcome}")
        clash = {spec.part("arm_column").root, spec.target} & set(spec.features)
        if clash:
            raise ValueError(f"features: {', '.join(sorted(clash))} is the arm or the outcome, not a covariate")
        if isinstance(spec.gates, TreatmentGates):
            return
        if "gates" in spec.model_fields_set:
            raise ValueError("treatment_effect takes gates: {simulated: [...], real: [...]} (rules as data)")
        spec.fill_default("gates", TreatmentGates(simulated=list(DEFAULT_REAL_GATES), real=list(DEFAULT_REAL_GATES)))

    @override
    def fit(self, spec: ModelSpec, inputs: RunInputs, progress: Progress) -> TrialFit:
        if inputs.table is None:
            raise DataError(f"{spec.name}: a trial spec trains on the trial's own table (--table trial.csv)")
        design = trial_design(spec)
        table = read_trial_table(inputs.table, spec, design, inputs.quarantine_dir, progress)
        train, test = holdout_split(table, inputs.holdout, spec.seed)
        if design.outcome == "time_to_event":
            assert design.horizon_days is not None and train.event is not None
            if not np.any(train.y >= design.horizon_days):
                raise DataError(f"{inputs.table}: column {design.time_column}: no patient is followed to horizon_days "
                                f"{design.horizon_days:g}; choose a horizon inside the follow-up")
        params = LearnerParams(**_learner(spec).model_dump())
        model = TreatmentEffectModel(list(spec.features), design.outcome, params)  # type: ignore[arg-type]
        model.n_arms, model.horizon_days = len(design.arms), design.horizon_days
        with progress_bar("effect boosters (full data + bootstrap)", params.n_bootstrap + 1) as advance:
            model.fit(train.X, train.arm, train.y, advance, event=train.event)
        rows = {"rows_in": table.rows_in, "rows_used": len(table.y), "rows_quarantined": table.rows_quarantined}
        return TrialFit(model, design, train, test, rows)

    @override
    def evaluate(self, spec: ModelSpec, fitted: TrialFit, figures_dir: Path, progress: Progress) -> Evaluation:
        metrics, report = evaluate_trial(spec, fitted)
        return Evaluation(metrics, report)

    @override
    def gates(self, spec: ModelSpec, fitted: TrialFit, evaluation: Evaluation, client: MlflowClient
              ) -> list[GateResult]:
        gates = spec.gates
        assert isinstance(gates, TreatmentGates)  # check_spec
        return check_rules(gates.real, evaluation.metrics)

    @override
    def artifact(self, spec: ModelSpec, fitted: TrialFit, evaluation: Evaluation) -> TreatmentArtifact:
        return trial_artifact(spec, fitted)

    @override
    def card_sections(self, spec: ModelSpec, evaluation: Evaluation, gates: list[GateResult],
                      context: dict[str, str], artifact: Artifact) -> list[Section] | None:
        return None  # the arms, effect groups and rules are the run's reports

    @override
    def record(self, spec: ModelSpec, inputs: RunInputs, fitted: TrialFit, evaluation: Evaluation,
               gates: list[GateResult]) -> RunRecord:
        model = fitted.model
        calibrator: Calibrator = SigmoidCalibrator()  # the S-learner's own probabilities
        if model.outcome == "time_to_event":
            assert model.horizon_days is not None
            calibrator = BreslowHorizonCalibrator(model.horizon_days, model.horizon_hazards[0])
        return RunRecord(booster=model.boosters_[0], calibrator=calibrator, metrics=evaluation.metrics,
                         params={f"learner.{k}": v for k, v in asdict(model.params).items()},
                         tags={"pmed.model": spec.name}, reports=evaluation.report, spec_path=inputs.spec_path,
                         extras=model.save)


def _outcome_kind(spec: ModelSpec) -> str:
    kind = spec.part("outcome_kind")
    if kind is not None:
        return str(kind.root)
    return "time_to_event" if spec.part("time_column") is not None else "binary"


def _learner(spec: ModelSpec) -> LearnerSpec:
    learner = spec.part("learner")
    return learner if isinstance(learner, LearnerSpec) else LearnerSpec()


def trial_design(spec: ModelSpec) -> TrialDesign:
    """The spec's trial keys with their defaults (``check_spec`` has refused an inconsistent spec)."""
    arms = spec.part("arms")
    assert isinstance(arms, Arms)
    rules = spec.part("policy_rules")
    return TrialDesign(arm_column=spec.part("arm_column").root, arms=arms.all, outcome=_outcome_kind(spec),
                       target=spec.target, time_column=_text(spec, "time_column"),
                       event_column=_text(spec, "event_column"),
                       horizon_days=_days(spec),
                       rules=dict(rules.root) if rules is not None else {})


def _days(spec: ModelSpec) -> float | None:
    part = spec.part("horizon_days")
    return None if part is None else float(part.root)


def _text(spec: ModelSpec, key: str) -> str | None:
    part = spec.part(key)
    return None if part is None else str(part.root)


def holdout_split(table: TrialTable, share: float, seed: int) -> tuple[TrialTable, TrialTable]:
    """(fit, held-out): a seeded random ``share`` of each arm held out, so both keep the allocation ratio."""
    if not 0.05 <= share <= 0.5:
        raise ValueError(f"holdout share must be within 0.05-0.5, not {share}")
    rng = np.random.default_rng(seed)
    held = np.zeros(len(table.y), dtype=bool)
    for a in np.unique(table.arm):
        rows = np.flatnonzero(table.arm == a)
        held[rng.choice(rows, max(1, round(share * len(rows))), replace=False)] = True
    return _rows(table, ~held), _rows(table, held)


def _rows(table: TrialTable, keep: np.ndarray) -> TrialTable:
    return TrialTable(X=table.X[keep], arm=table.arm[keep], y=table.y[keep],
                      event=None if table.event is None else table.event[keep],
                      rules={n: r[keep] for n, r in table.rules.items()}, keys=table.keys[keep].reset_index(drop=True),
                      rows_in=table.rows_in, rows_quarantined=table.rows_quarantined)


def evaluate_trial(spec: ModelSpec, fitted: TrialFit) -> tuple[dict[str, float], dict[str, Any]]:
    """Arms' predicted vs observed, BLP and GATES per compared arm, and the rules' estimated values (held out)."""
    design, model, test = fitted.design, fitted.model, fitted.test
    outcomes = model.arm_outcomes(test.X).astype(np.float64)
    predicted = outcomes[0]  # (n_arms, n): the full-data booster
    arms_rows = ev.arm_calibration(design.arms, test.arm, predicted, test.y, test.event, design.horizon_days)
    y = (ev.pseudo_risk(test.y, test.event, design.horizon_days)
         if test.event is not None and design.horizon_days is not None else test.y)
    metrics: dict[str, float] = {"n_evaluated": float(len(y)), **{k: float(v) for k, v in fitted.rows.items()},
                                 "arms_within_ci": float(np.mean([r["within_ci"] for r in arms_rows]))}
    for r in arms_rows:
        key = _metric_key(r["arm"])
        metrics |= {f"arm.{key}.mean_predicted": r["mean_predicted"], f"arm.{key}.observed": r["observed"],
                    f"arm.{key}.observed_ci_low": r["observed_ci_low"],
                    f"arm.{key}.observed_ci_high": r["observed_ci_high"]}
    groups: dict[str, list[dict[str, float]]] = {}
    for a, name in enumerate(design.arms[1:], start=1):
        effect = predicted[a] - predicted[0]
        summary, rows = ev.blp_and_gates(effect, test.arm, y, a, GATES)
        groups[name] = rows
        metrics |= {f"{_metric_key(name)}.{k}": v for k, v in summary.items()}
        if a == 1:
            metrics |= summary  # the first compared arm's under the plain names too (blp_slope, ...)
    sign = 1.0 if _lower_is_better(spec) else -1.0
    n_arms = len(design.arms)
    policies = {f"all {name}": np.full(len(y), a) for a, name in enumerate(design.arms)}
    policies |= {name: test.rules[name] for name in design.rules}
    policies[MODEL_RULE] = np.argmin(sign * predicted, axis=0)
    estimates = ev.policy_estimates(policies, test.arm, y, n_arms, spec.bootstrap_samples, spec.seed)
    simple = [n for n in policies if n != MODEL_RULE]
    best = min(simple, key=lambda n: sign * estimates[n]["value"])
    diff, low, high = ev.paired_difference(policies[MODEL_RULE], policies[best], test.arm, y, n_arms,
                                           spec.bootstrap_samples, spec.seed)
    metrics |= {"est_model_value": estimates[MODEL_RULE]["value"], "est_best_simple_value": estimates[best]["value"],
                "est_model_minus_best_simple": diff, "est_model_minus_best_simple_ci_low": low,
                "est_model_minus_best_simple_ci_high": high,
                # the CI end on the worse side: above 0 means the model's rule is worse beyond noise
                "est_model_minus_best_simple_worse_ci": low if sign > 0 else -high}
    report = {"arms": {"rows": arms_rows}, "effect_groups": {"by_compared_arm": groups},
              "policies": {"rows": list(estimates.values()), "best_simple_rule": best,
                           "lower_is_better": sign > 0},
              "rows": fitted.rows}
    return metrics, report


def _lower_is_better(spec: ModelSpec) -> bool:
    part = spec.part("lower_is_better")
    return True if part is None else bool(part.root)


def _metric_key(arm: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", arm)


def trial_artifact(spec: ModelSpec, fitted: TrialFit) -> TreatmentArtifact:
    """The covariates' one definitions with what the fitted patients showed, then one indicator per compared arm."""
    design, model, X = fitted.design, fitted.model, fitted.train.X
    features: list[dict[str, object]] = []
    for j, feature in enumerate(feature_definitions(spec)):
        seen = X[:, j][~np.isnan(X[:, j])]
        features.append({**feature.public(), "example": float(np.median(seen)) if len(seen) else 0.0,
                         "training_min": float(seen.min()) if len(seen) else 0.0,
                         "training_max": float(seen.max()) if len(seen) else 0.0,
                         "training_missing_rate": float(1 - seen.size / len(X))})
    indicators = []
    for a, arm in enumerate(design.arms[1:], start=1):
        name = f"arm_{a}_{_metric_key(arm).lower()}"[:60]
        indicators.append(name)
        features.append({"name": name, "display_name": f"{arm} (vs {design.arms[0]})",
                         "unit": f"1 = {arm}, 0 = another arm", "source": "trial", "kind": "binary", "min": 0,
                         "max": 1, "concept": f"{arm} (vs {design.arms[0]})", "required": True,
                         "derivation": f"the trial's {design.arm_column} column", "example": 0.0,
                         "training_min": 0.0, "training_max": 1.0, "training_missing_rate": 0.0})
    label = spec.part("outcome_label")
    text = (f"bootstrap ensemble of {model.params.n_bootstrap} boosters, uncalibrated: sampling variance only, so "
            "it may cover less than 95% (no calibration without truth yet)")
    info = TreatmentInfo(feature=design.arm_column, arms=design.arms, reference=design.arms[0],
                         effect=" / ".join(f"{a} minus {design.arms[0]}" for a in design.arms[1:]), learner=LEARNER,
                         outcome=model.outcome, interval_k=model.interval_k, interval_c=model.interval_c,
                         simulated=False, arm_features=indicators, randomised=True, horizon_days=design.horizon_days,
                         outcome_label="" if label is None else str(label.root), interval_text=text,
                         guideline="none", lower_is_better=_lower_is_better(spec))
    fields = artifact_fields(spec, features)
    horizon_years = design.horizon_days / 365.25 if design.horizon_days else spec.horizon_years
    return TreatmentArtifact.model_validate({
        **fields, "task": TreatmentArtifact.TASK, "horizon_years": horizon_years, "treatment": info,
        "decision_thresholds": [], "description": f"{spec.description} (randomised trial supplied by the user)",
        "calibration": "none (the S-learner's own outcome model)"})


TASK = TreatmentEffectTask()
