"""`pmed train SPEC --dry-run`: the spec checked and the data read and split exactly as training would, counted,
and nothing fitted, logged or registered.

What it answers before an hour of training: does the table fit the spec (the same reader refuses the same rows),
how many patients and events fall in each part of the split, and are there enough test events for the gates to
mean anything. Below the gates' ``min_test_events`` the ``min_test_events`` gate fails and training judges the
model by repeated cross-validation instead (``training.cv.plan_cv``, which this calls too); below about 100 test
events a single split's discrimination CI is wide, and validation studies aim for at least 100 (Vergouwe et al.,
J Clin Epidemiol 2005;58:475-483; Collins et al., Stat Med 2016;35:214-226). The width quoted is Hanley and
McNeil's standard error of an AUROC of 0.75 (Radiology 1982;143:29-36) on the test split's events and non-events.

Each task that reads a table has its counter here (``COUNTERS``); any other task gets a clear "not supported".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from training.cv import plan_cv
from training.data import load_inputs
from training.errors import DataError
from training.spec import DoseGates, Gates, ModelSpec
from training.spec_init import PLACEHOLDER, SMALL_DATA_CV, VALIDATION_EVENTS, read_table
from training.split import Split, site_folds, split_cohort
from training.task import Progress, RunInputs

__all__ = ["COUNTERS", "DryRun", "PartCount", "auroc_ci_halfwidth", "dry_run", "placeholder_warnings"]

REFERENCE_AUROC = 0.75
_CV = "{" + ", ".join(f"{k}: {v}" for k, v in SMALL_DATA_CV.items()) + "}"


@dataclass(frozen=True)
class PartCount:
    """One part of the split: its patients and events (survival: also the follow-up and early censoring)."""

    name: str
    patients: int
    events: int | None = None  # None for a dose model (no events)
    events_by_horizon: int | None = None
    censored_before_horizon: int | None = None
    follow_up_days: tuple[float, float] | None = None  # shortest and longest follow-up

    def line(self) -> str:
        text = f"{self.name:<10} {self.patients:>6} patients"
        if self.events is not None:
            text += f", {self.events:>5} events"
        if self.events_by_horizon is not None:
            text += f" ({self.events_by_horizon} by the horizon)"
        if self.censored_before_horizon is not None:
            text += f", {self.censored_before_horizon} censored before the horizon"
        if self.follow_up_days is not None:
            text += f", follow-up {self.follow_up_days[0]:g}-{self.follow_up_days[1]:g} days"
        return text


@dataclass
class DryRun:
    """What the dry run found, as the lines the CLI prints; ``warnings`` are the ones to act on."""

    spec_name: str
    task: str
    rows: int  # rows of the source table read (of the rows kept, until ``dry_run`` counts the file)
    used: int  # patients the task trains and evaluates on
    parts: list[PartCount]
    min_test_events: int | None
    quarantined: int = 0  # rows set aside by on_invalid: quarantine (rows read = kept + quarantined)
    info: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        head = [f"dry run of {self.spec_name} (task {self.task}): spec valid; {self.rows} rows read"
                + (f", {self.quarantined} quarantined" if self.quarantined else "")
                + f", {self.used} patients used; nothing fitted, logged or registered"]
        return head + [p.line() for p in self.parts] + self.info + [f"WARNING: {w}" for w in self.warnings]


def auroc_ci_halfwidth(events: int, non_events: int, auroc: float = REFERENCE_AUROC) -> float:
    """Half the width of a 95% CI of an AUROC on this many events and non-events (Hanley & McNeil 1982)."""
    if events < 1 or non_events < 1:
        return float("nan")
    q1, q2 = auroc / (2 - auroc), 2 * auroc**2 / (1 + auroc)
    variance = (auroc * (1 - auroc) + (events - 1) * (q1 - auroc**2) + (non_events - 1) * (q2 - auroc**2)) \
        / (events * non_events)
    return 1.96 * math.sqrt(variance)


def placeholder_warnings(spec: ModelSpec) -> list[str]:
    """What `pmed spec init` left for the user and the spec still holds: TODO text, a number feature without unit."""
    found = [key for key in ("description", "intended_use", "limitations") if PLACEHOLDER in getattr(spec, key)]
    found += [f"declared_features.{f.name}.unit" for f in spec.declared_features
              if f.kind in ("continuous", "count") and not f.unit.strip()]
    found += [f"declared_features.{f.name}.{key}" for f in spec.declared_features
              for key in ("display_name", "unit") if PLACEHOLDER in getattr(f, key)]
    return [f"still to fill in: {', '.join(found)}"] if found else []


def _events_warnings(run: DryRun, test_events: int, contrast: tuple[int, int], evaluation: Any) -> None:
    """The gates' minimum, what training will do about it (``plan_cv``), and how wide a single split's AUROC is
    (``contrast``: the test patients with and without the outcome; survival: by the horizon, and event-free past it)."""
    minimum = run.min_test_events
    if minimum is None:
        return
    run.info.append(f"the gates need at least {minimum} test events (min_test_events); the test split has "
                    f"{test_events}")
    plan = plan_cv(evaluation, test_events, minimum)
    if test_events < minimum:
        run.warnings.append(f"{test_events} test events, below min_test_events {minimum}: the test split's metrics "
                            "would be noise and that gate fails; add patients, or judge the model by repeated "
                            f"cross-validation, evaluation: {_CV}")
    if plan is not None:
        run.info.append(f"training will evaluate by {plan.describe()}")
    if test_events < VALIDATION_EVENTS:
        width = auroc_ci_halfwidth(*contrast)
        run.warnings.append(f"{test_events} test events (validation studies aim for >= {VALIDATION_EVENTS})"
                            + (f": an AUROC of {REFERENCE_AUROC} on them has a 95% CI of about +/- {width:.2f}"
                               if np.isfinite(width) else "")
                            + ("" if plan is not None else f"; evaluation: {_CV} uses every "
                                                           "patient's events instead"))


def _parts(split: Split, count: Callable[[str, np.ndarray], PartCount]) -> list[PartCount]:
    return [count(name, getattr(split, name)) for name in ("train", "validation", "test")]


def _risk(spec: ModelSpec, inputs: RunInputs, progress: Progress) -> DryRun:
    data, _ = load_inputs(spec, inputs, progress)
    split = split_cohort(data.keys, data.cohort, spec.split, spec.seed)
    gates = spec.gates if isinstance(spec.gates, Gates) else Gates()
    parts = _parts(split, lambda name, rows: PartCount(name, len(rows), int(data.y[rows].sum())))
    run = DryRun(spec.name, spec.task, len(data.source), len(data.y), parts, gates.min_test_events)
    if len(data.source) > len(data.y):
        run.info.append(f"{len(data.source) - len(data.y)} row(s) with an empty {spec.target} are not at risk (left "
                        "out of training and evaluation)")
    test = parts[2]
    _events_warnings(run, test.events or 0, (test.events or 0, test.patients - (test.events or 0)), spec.evaluation)
    return run


def _survival(spec: ModelSpec, inputs: RunInputs, progress: Progress) -> DryRun:
    from training.survival.fit import load_survival, load_survival_folder, split_survival
    from training.survival.task import survival_gates, survival_part

    part = survival_part(spec)
    if inputs.table is not None:
        progress(f"loading data for {spec.name} from {inputs.table}")
        survival = load_survival(inputs.table, spec, part, quarantine_dir=inputs.quarantine_dir, progress=progress)
    elif inputs.features_dir is not None:
        progress(f"loading data for {spec.name} from {inputs.features_dir}")
        survival = load_survival_folder(inputs.features_dir, spec, part)
    else:
        raise DataError(f"{spec.name}: a survival model trains on follow-up times: give a feature folder or a "
                        "table (--table FILE)")
    split = split_survival(spec, survival, part.horizon_days)  # refuses a horizon a part never reaches
    time, event, horizon = survival.time, survival.data.y == 1, part.horizon_days

    def count(name: str, rows: np.ndarray) -> PartCount:
        t, e = time[rows], event[rows]
        return PartCount(name, len(rows), int(e.sum()), int((e & (t <= horizon)).sum()),
                         int((~e & (t < horizon)).sum()), (float(t.min()), float(t.max())) if len(rows) else None)

    parts = _parts(split, count)
    run = DryRun(spec.name, spec.task, len(survival.data.source), len(time), parts,
                 survival_gates(spec).min_test_events)
    run.info.append(f"horizon {horizon:g} days; the gates count test events at any time (min_test_events), the risk "
                    "is about those by the horizon")
    test_time, test_event = time[split.test], event[split.test]
    contrast = (int((test_event & (test_time <= horizon)).sum()), int((test_time > horizon).sum()))
    _events_warnings(run, parts[2].events or 0, contrast, spec.evaluation)
    return run


def _dose(spec: ModelSpec, inputs: RunInputs, progress: Progress) -> DryRun:
    data, _ = load_inputs(spec, inputs, progress)
    folds = site_folds(data.keys, data.cohort, spec.split, spec.seed)
    gates = spec.gates if isinstance(spec.gates, DoseGates) else DoseGates()
    parts = [PartCount(f"fold {i + 1} test", len(f.test)) for i, f in enumerate(folds)]
    run = DryRun(spec.name, spec.task, len(data.source), len(data.y), parts, None)
    run.info.append(f"{len(folds)} folds of whole sites ({data.cohort[spec.split.site_column].nunique()} sites), each "
                    f"held out once; the gates need at least {gates.min_test_patients} held-out patients in all "
                    f"(min_test_patients), the folds hold {sum(len(f.test) for f in folds)}")
    if sum(len(f.test) for f in folds) < gates.min_test_patients:
        run.warnings.append(f"fewer held-out patients than min_test_patients {gates.min_test_patients}: that gate "
                            "fails")
    return run


def _trial(spec: ModelSpec, inputs: RunInputs, progress: Progress) -> DryRun:
    """A trial spec: rows in/used/quarantined, then patients (and events) per arm in the fitted and held-out parts."""
    from training.effect.table import read_trial_table
    from training.effect.task import holdout_split, trial_design

    if inputs.table is None:
        raise DataError(f"{spec.name}: a trial spec trains on the trial's own table (--table trial.csv)")
    design = trial_design(spec)
    table = read_trial_table(inputs.table, spec, design, inputs.quarantine_dir, progress)
    train, test = holdout_split(table, inputs.holdout, spec.seed)
    parts = []
    for part_name, part in (("fit", train), ("held out", test)):
        for a, arm in enumerate(design.arms):
            rows = part.arm == a
            events = None
            if design.outcome != "continuous":
                events = int(np.sum((part.event if part.event is not None else part.y)[rows] == 1))
            parts.append(PartCount(f"{part_name}: {arm}"[:40], int(rows.sum()), events))
    run = DryRun(spec.name, spec.task, table.rows_in, len(table.y), parts, None)
    run.info.append(f"{inputs.holdout:.0%} of each arm held out for the truth-free evaluation (--holdout)")
    return run


COUNTERS: dict[str, Callable[[ModelSpec, RunInputs, Progress], DryRun]] = {
    "risk_classification": _risk, "survival": _survival, "dose_regression": _dose, "treatment_effect": _trial}


def dry_run(spec: ModelSpec, inputs: RunInputs, progress: Progress = lambda _: None) -> DryRun:
    """Read and split the data for ``spec`` as training would and count it; raises ``DataError`` as training
    would, and ``ValueError`` for a task without a counter."""
    counter = COUNTERS.get(spec.task)
    if counter is None:
        raise ValueError(f"--dry-run is not supported for task {spec.task} (supported: {', '.join(COUNTERS)})")
    run = counter(spec, inputs, progress)
    if inputs.table is not None:  # the reader keeps the rows that pass; the ones quarantined are the difference
        kept, run.rows = run.rows, len(read_table(inputs.table))
        run.quarantined = run.rows - kept
    run.warnings = placeholder_warnings(spec) + run.warnings
    return run
