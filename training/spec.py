"""Model specs: what a model predicts, from which features, how it is fitted and when it may be promoted.

A spec is a YAML file in ``models/``. It is validated strictly (an unknown key is an error that names
the key) so a typo never silently falls back to a default.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from features.cohorts import DEFINITIONS
from features.registry import REGISTRY, Feature, Source
from kernel.calibration import CalibrationMethod
from training import discovery
from training.spec_parts import DoseGates, DoseModel, GateRule, LearnerSpec, Strict, TreatmentGates, TreatmentPart

__all__ = ["DeclaredFeature", "DoseGates", "DoseModel", "EvaluationSpec", "FeatureOverride", "GateRule", "Gates",
           "LearnerSpec", "ModelSpec", "SearchSpec", "SpecError", "SplitFractions", "TaskRules", "TreatmentGates",
           "TreatmentPart", "XGBoostParams", "feature_definitions", "load_spec"]


class XGBoostParams(Strict):
    max_depth: int = Field(4, ge=1, le=12)
    learning_rate: float = Field(0.05, gt=0, le=1)
    n_estimators: int = Field(1000, ge=1, le=20_000, description="upper bound; early stopping picks")
    early_stopping_rounds: int = Field(50, ge=1)
    subsample: float = Field(0.8, gt=0, le=1)
    colsample_bytree: float = Field(0.8, gt=0, le=1)
    min_child_weight: float = Field(5.0, ge=0)
    reg_lambda: float = Field(1.0, ge=0)
    nthread: int = Field(0, ge=0, description="0 = all cores (training only; serving uses 1)")


class SearchSpec(Strict):
    """Optional hyperparameter search (Optuna TPE, seeded) within a budget of trials and seconds.

    Each trial boosts on the training patients with early stopping on validation; the best validation
    log-loss wins. The test patients are never seen by the search.
    """

    trials: int = Field(20, ge=1, le=500)
    timeout_seconds: int | None = Field(600, ge=1)


class SplitFractions(Strict):
    """How patients are divided. ``by: patient`` is a seeded random split; ``by: site`` holds out whole
    sites as the test set and ``by: time`` the patients indexed on or after ``test_from`` (temporal
    validation); the remaining patients are then split into train and validation in proportion."""

    train: float = Field(0.6, gt=0, lt=1)
    validation: float = Field(0.2, gt=0, lt=1, description="early stopping and calibration")
    test: float = Field(0.2, gt=0, lt=1, description="held out for the reported metrics")
    by: Literal["patient", "site", "time"] = "patient"
    site_column: str = "site"
    test_sites: list[str] = Field([], description="by: site: the sites held out as the test set")
    time_column: str = "index_date"
    test_from: date | None = None
    folds: int | None = Field(None, ge=2, le=50, description="dose_regression with by: site: every site is held "
                              "out once, in this many folds of whole sites; train/validation split the rest")

    @model_validator(mode="after")
    def _consistent(self) -> SplitFractions:
        if abs(self.train + self.validation + self.test - 1.0) > 1e-9:
            raise ValueError("split fractions must add up to 1")
        if self.by == "site" and not self.test_sites and not self.folds:
            raise ValueError("split by site needs test_sites (the sites held out for testing) or folds")
        if self.folds and self.by != "site":
            raise ValueError("folds apply to split by site (whole sites held out per fold)")
        if self.by == "time" and self.test_from is None:
            raise ValueError("split by time needs test_from (a date; patients indexed from then on are the test set)")
        return self


class EvaluationSpec(Strict):
    """Repeated stratified k-fold cross-validation: each fold refits the model (early stopping and calibration
    inside its training part) and its baselines, and scores the held-out fold; every metric is reported as its
    mean over the ``cv_folds`` x ``repeats`` folds with a 95% CI (docs/evaluation.md)."""

    cv_folds: int = Field(5, ge=2, le=20)
    repeats: int = Field(2, ge=1, le=20)


class Gates(Strict):
    """Promotion gates, checked on the held-out test patients (or on the cross-validation figures when the spec
    asks for ``evaluation`` or pmed chooses it for a test split with too few events: docs/evaluation.md)."""

    min_auroc: float = Field(0.5, ge=0, le=1)
    min_auroc_ci_low: float | None = Field(
        None, ge=0, le=1, description="the AUROC's 95% CI lower bound (bootstrap, or cross-validation) must reach "
                                      "this; null disables")
    calibration_slope: tuple[float, float] = Field(
        (0.8, 1.2), description="acceptable band; judged on the slope's 95% CI: fails when the CI lies outside "
                                "the band, or is too wide to judge (max_calibration_slope_ci_width)")
    max_calibration_slope_ci_width: float | None = Field(
        None, gt=0, description="a slope CI wider than this cannot judge calibration (too few events); null: "
                                "twice the band's width")
    max_brier: float = Field(1.0, gt=0, le=1)
    min_test_events: int = Field(20, ge=1, description="too few events make every metric noise")
    min_subgroup_auroc: float = Field(0.0, ge=0, le=1, description="no reported subgroup's AUROC may lie below this "
                                      "beyond noise (its whole 95% CI); 0 disables")
    max_auroc_deficit_vs_linear: float | None = Field(
        0.01, ge=0, description="vs_linear_baseline: refused when the paired bootstrap CI of (AUROC - logistic "
                                "regression AUROC) on the same patients lies wholly below -this; null disables")
    max_auroc_drop_vs_champion: float | None = Field(
        0.02, ge=0, description="the new version may trail the current champion by at most this AUROC on the "
                                "same test patients (and must not be worse beyond noise), nor the best version "
                                "ever promoted by more in total; null disables the comparison")


class DeclaredFeature(Feature):
    """A feature of a user's own table that is not in pmed's registry, declared in the spec itself.

    It is validated, served and explained exactly like a registry feature: its name, unit and range form
    the request schema, its display name labels the explanation. ``kind: categorical`` takes ``levels`` as
    written in the table (text or numeric codes; no unit or range), ``kind: binary`` may declare two ``codes``
    (first = 0, second = 1; default 0 and 1).
    """

    source: Source = "other"
    concept: str = ""
    derivation: str = "provided in the training table"

    @model_validator(mode="after")
    def _concept_defaults_to_display_name(self) -> DeclaredFeature:
        if not self.concept:
            object.__setattr__(self, "concept", self.display_name)
        return self


class FeatureOverride(Strict):
    """A spec's own range for a registry (or cohort) feature: narrow or widen ``min``/``max`` for this model.

    Applied by ``feature_definitions``, so training's table reader, serving's request schema and the docs all
    use the overridden range."""

    min: float | None = None
    max: float | None = None


class TaskRules(Protocol):
    """What a spec asks of the task it names (found by ``training.discovery``): the spec keys it defines, its
    named baselines and its own checks. ``training.task.Task`` is this plus the run's steps; it lives here, beside
    ``ModelSpec``, because each names the other."""

    name: str  # the spec's ``task`` value
    baselines: tuple[str, ...]  # the named comparisons a spec may ask its evaluation for
    spec_parts: ClassVar[dict[str, type[BaseModel]]]  # spec keys this task defines (validated by these models)

    def check_spec(self, spec: ModelSpec) -> None:
        """Refuse a spec this task cannot train (raise ValueError) and fill the task's defaults."""
        ...


def _spec_parts(known: dict[str, TaskRules], shared: set[str]) -> dict[str, type[BaseModel]]:
    """Every task's own spec keys with their models; a key two tasks claim (or a shared key) is refused."""
    owned: dict[str, tuple[str, type[BaseModel]]] = {}
    for task in known.values():
        for key, model in getattr(task, "spec_parts", {}).items():
            if key in shared or (key in owned and owned[key][1] is not model):
                other = "ModelSpec" if key in shared else f"task {owned[key][0]}"
                raise ValueError(f"spec key {key!r} of task {task.name} is already {other}'s")
            owned[key] = (task.name, model)
    return {key: model for key, (_, model) in owned.items()}


class ModelSpec(Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,63}$")
    description: str
    intended_use: str
    task: str = Field("risk_classification", description="a task of training's subpackages "
                                                             "(training.discovery)")
    target: str
    horizon_years: float | None = Field(None, gt=0, description="required for risk_classification")
    dose: DoseModel | None = None
    treatment: TreatmentPart | None = None
    id_column: str = Field("patient_key", description="patient key column of a --table file")
    features: list[str] = Field(min_length=1)
    declared_features: list[DeclaredFeature] = Field([], description="features of a --table file that are "
                                                                        "not in the registry")
    overrides: dict[str, FeatureOverride] = Field({}, description="feature -> {min, max}: narrow or widen a "
                                                                 "registry feature's range for this spec")
    on_invalid: Literal["refuse", "quarantine"] = Field(
        "refuse", description="a --table row with an out-of-range or malformed value: refuse the table (naming "
                              "file, column, rule, count and first row) or quarantine the row (file, row, column, "
                              "rule; never the value) and train on the rest")
    monotone_constraints: dict[str, Literal[-1, 1]] = Field({}, description="feature -> 1 (the prediction only "
                                                                           "rises with it) or -1 (only falls)")
    xgboost: XGBoostParams = XGBoostParams()
    search: SearchSpec | None = None
    calibration: CalibrationMethod = "sigmoid"
    split: SplitFractions = SplitFractions()
    evaluation: EvaluationSpec | None = Field(
        None, description="cross-validation {cv_folds, repeats}; pmed chooses 5 x 2 itself when the test split "
                          "has fewer events than the gates' min_test_events")
    seed: int = 42
    gates: Gates | DoseGates | TreatmentGates = Gates()
    subgroups: list[str] = Field(["sex", "ancestry", "age_band"], description="cohort columns the evaluation "
                                                                                 "reports metrics by")
    decision_thresholds: tuple[float, float] = Field((0.05, 0.30), description="net-benefit threshold range")
    max_missing_importance: float = Field(
        0.4, gt=0, le=1, description="serving abstains (returns no risk) when a patient's missing features carry "
                                     "more than this share of the model's mean |SHAP| importance")
    missing_unseen: Literal["abstain", "warn"] = Field(
        "abstain", description="an input (almost) never missing in training (fewer than 1% of training patients: "
                               "the model never learned what its absence means) that is missing at prediction: "
                               "abstain (no risk), or warn (answer, with a flag giving the risk change against "
                               "the training median)")
    baselines: list[str] = Field(["logistic_regression"], description="named comparisons; each task knows its own "
                                                                       "(Task.baselines)")
    bootstrap_samples: int = Field(200, ge=10, le=5000, description="resamples behind every 95% CI")
    limitations: str = ""
    task_parts: dict[str, Any] = Field({}, exclude=True, description="not a spec key: the parts a task's own "
                                                                       "subpackage defines (Task.spec_parts)")

    @model_validator(mode="before")
    @classmethod
    def _claim_task_parts(cls, raw: Any) -> Any:
        """A key a task's subpackage defines (``Task.spec_parts``) is validated by that task's model, so a new task
        brings its own spec keys without editing this class; any other unknown key is still an error."""
        if not isinstance(raw, dict):
            return raw
        if "task_parts" in raw:
            raise ValueError("task_parts is not a spec key")
        known: dict[str, TaskRules] = discovery.discovered()
        owned = _spec_parts(known, set(cls.model_fields))
        claimed = {}
        for key in owned.keys() & raw.keys():
            try:
                claimed[key] = owned[key].model_validate(raw[key])
            except ValidationError as exc:
                raise ValueError(f"{key}: " + "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                                                        for e in exc.errors())) from exc
        return {**{k: v for k, v in raw.items() if k not in claimed}, "task_parts": claimed} if claimed else raw

    def part(self, key: str) -> Any:
        """The validated part of the spec under ``key`` that a task's subpackage defines (None when absent)."""
        return self.task_parts.get(key)

    @model_validator(mode="after")
    def _features_are_known(self) -> ModelSpec:
        declared = {f.name for f in self.declared_features}
        clash = sorted(declared & set(REGISTRY))  # a user's table may name a feature another cohort defines
        if clash:
            raise ValueError(f"declared_features redefine registry features: {', '.join(clash)}")
        unknown = [n for n in self.features if n not in DEFINITIONS and n not in declared]
        if unknown:
            raise ValueError(f"features neither in the feature registry nor in declared_features: {', '.join(unknown)}")
        if len(set(self.features)) != len(self.features):
            raise ValueError("features are listed more than once")
        self._overrides_apply()
        stray = [n for n in self.monotone_constraints if n not in self.features]
        if stray:
            raise ValueError(f"monotone_constraints name features the spec does not use: {', '.join(stray)}")
        return self._task_consistent()

    def _overrides_apply(self) -> None:
        """An override names a number feature the spec uses, and leaves min below max (a spec error naming it)."""
        declared = {f.name: f for f in self.declared_features}
        for name, override in self.overrides.items():
            if name not in self.features:
                raise ValueError(f"overrides.{name}: not a feature this spec uses")
            base = declared.get(name) or DEFINITIONS[name]
            if base.kind in ("categorical", "binary"):
                raise ValueError(f"overrides.{name}: a {base.kind} feature has codes, not a range")
            low = base.min if override.min is None else override.min
            high = base.max if override.max is None else override.max
            if not low < high:
                raise ValueError(f"overrides.{name}: min ({low:g}) must be below max ({high:g})")

    def _task_consistent(self) -> ModelSpec:
        """Each task checks its own part of the spec (and fills its defaults): ``Task.check_spec``."""
        try:
            task: TaskRules = discovery.discovered_task(self.task)
        except discovery.TaskError as exc:
            raise ValueError(str(exc)) from exc
        unknown = [b for b in self.baselines if b not in task.baselines] if "baselines" in self.model_fields_set else []
        if unknown:
            raise ValueError(f"baselines: {', '.join(unknown)} not known to {self.task} "
                             f"(known: {', '.join(task.baselines) or 'none'})")
        task.check_spec(self)
        return self

    def fill_default(self, name: str, value: object) -> None:
        """Set a task's default for a field the spec left out (specs are frozen once validated)."""
        if name not in self.model_fields_set:
            object.__setattr__(self, name, value)


def feature_definitions(spec: ModelSpec) -> list[Feature]:
    """The definition of each of the spec's features, in spec order: declared ones first, then the one definition
    of every registry and cohort feature (``features.cohorts.DEFINITIONS``), with the spec's ``overrides`` of a
    range applied: the one definition training, serving's schema and the docs use."""
    declared = {f.name: f for f in spec.declared_features}
    defined = [declared.get(name) or DEFINITIONS[name] for name in spec.features]
    return [_overridden(f, spec.overrides[f.name]) if f.name in spec.overrides else f for f in defined]


def _overridden(feature: Feature, override: FeatureOverride) -> Feature:
    """The definition with the spec's own range (validated again, so the range stays ordered)."""
    bounds = override.model_dump(exclude_none=True)
    return type(feature).model_validate({**feature.model_dump(), **bounds})


class SpecError(ValueError):
    """A model spec file is unreadable or invalid; the message names the file and the key."""


def load_spec(path: Path) -> ModelSpec:
    """Read and validate a model spec, turning every problem into one readable message."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read YAML ({exc})") from exc
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: a model spec is a YAML mapping")
    try:
        return ModelSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(spec)'}: {e['msg']}" for e in exc.errors())
        raise SpecError(f"{path}: {problems}") from exc
