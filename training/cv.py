"""Repeated stratified k-fold cross-validation, shared by the risk and survival tasks (docs/evaluation.md).

On a test split with a few dozen events every held-out figure is noise; cross-validation scores every
patient once per repeat instead. Each fold's training part is split again into train and validation (the
spec's proportions, stratified), so early stopping and calibration never see the fold's held-out patients.

The 95% CI of a metric's mean over the K x R folds is the corrected resampled t interval (Nadeau & Bengio,
Machine Learning 2003;52:239-281; for repeated k-fold, Bouckaert & Frank, PAKDD 2004): the folds share
training patients, so the plain t interval (variance / (K R)) is far too narrow; the correction uses
variance x (1 / (K R) + n_test / n_train) = variance x (1 / (K R) + 1 / (K - 1)).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import stats
from sklearn.model_selection import RepeatedStratifiedKFold, train_test_split

from training.errors import DataError
from training.spec import EvaluationSpec, SplitFractions
from training.split import Split

PREFIX = "cv."
AUTO = EvaluationSpec(cv_folds=5, repeats=2)  # what pmed chooses when the test split has too few events
Progress = Callable[[str], None]


@dataclass(frozen=True)
class CVPlan:
    """How many folds and repeats, who chose them (``spec`` or ``pmed``) and why, in words for the report."""

    folds: int
    repeats: int
    chosen_by: str
    reason: str

    def describe(self) -> str:
        return f"{self.folds}-fold x {self.repeats} repeated cross-validation ({self.reason})"


def plan_cv(evaluation: EvaluationSpec | None, test_events: int, min_test_events: int) -> CVPlan | None:
    """The spec's cross-validation, or pmed's own when the test split has fewer events than the gates require
    (its figures would be noise); None when the test split alone is judged."""
    if evaluation is not None:
        return CVPlan(evaluation.cv_folds, evaluation.repeats, "spec", "asked for by the spec's evaluation")
    if test_events < min_test_events:
        return CVPlan(AUTO.cv_folds, AUTO.repeats, "pmed",
                      f"chosen by pmed: the test split has {test_events} events, fewer than min_test_events "
                      f"{min_test_events}, so its figures alone would be noise")
    return None


def cv_splits(strata: np.ndarray, plan: CVPlan, fractions: SplitFractions, seed: int) -> list[Split]:
    """Seeded folds stratified by ``strata`` (the outcome, or the event flag); each fold's training part is
    split into train and validation in the spec's train:validation proportion, stratified too."""
    strata = np.asarray(strata).astype(int)
    smallest = int(np.bincount(strata).min()) if len(np.unique(strata)) > 1 else 0
    if smallest < plan.folds:
        raise DataError(f"{plan.folds}-fold cross-validation needs at least {plan.folds} patients of each "
                         f"outcome; the data has {smallest} of the rarer one (evaluation.cv_folds: fewer folds)")
    share = fractions.validation / (fractions.train + fractions.validation)
    folds = RepeatedStratifiedKFold(n_splits=plan.folds, n_repeats=plan.repeats, random_state=seed)
    out = []
    for number, (rest, test) in enumerate(folds.split(np.zeros(len(strata)), strata)):
        train, valid = train_test_split(rest, test_size=share, stratify=strata[rest], random_state=seed + number)
        out.append(Split(train=np.sort(train), validation=np.sort(valid), test=np.sort(test)))
    return out


def corrected_ci(values: np.ndarray, folds: int) -> tuple[float, float, float]:
    """Mean and corrected resampled t 95% CI of per-fold values (NaN folds left out)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(values.mean())
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    variance = float(values.var(ddof=1)) * (1.0 / len(values) + 1.0 / (folds - 1))
    half = float(stats.t.ppf(0.975, len(values) - 1)) * variance ** 0.5
    return mean, mean - half, mean + half


def summarize(fold_metrics: list[dict[str, float]], plan: CVPlan, n: int, events: int) -> dict[str, float]:
    """``cv.<metric>`` (mean over folds), ``cv.<metric>_ci_low`` / ``_ci_high`` and ``cv.<metric>_sd`` for every
    metric the folds report, plus ``cv.folds``, ``cv.repeats``, ``cv.n`` and ``cv.events`` (every patient and
    event is scored once per repeat) and ``cv.folds_scored`` (folds that could be scored; the others are left
    out of the means)."""
    out = {f"{PREFIX}folds": float(plan.folds), f"{PREFIX}repeats": float(plan.repeats), f"{PREFIX}n": float(n),
           f"{PREFIX}events": float(events),
           f"{PREFIX}folds_scored": float(sum(np.isfinite(next(iter(fold.values()))) for fold in fold_metrics))}
    for name in fold_metrics[0]:
        values = np.array([fold.get(name, float("nan")) for fold in fold_metrics])
        mean, low, high = corrected_ci(values, plan.folds)
        finite = values[np.isfinite(values)]
        out[f"{PREFIX}{name}"] = mean
        out[f"{PREFIX}{name}_ci_low"] = low
        out[f"{PREFIX}{name}_ci_high"] = high
        out[f"{PREFIX}{name}_sd"] = float(finite.std(ddof=1)) if len(finite) > 1 else float("nan")
    return out


def judged(metrics: dict[str, float], names: list[str], events_key: str = "events") -> dict[str, float]:
    """The figures the gates judge: each of ``names`` from cross-validation (``cv.<name>``) when the run was
    cross-validated, else the test split's; ``events_key`` becomes the events the CV figures rest on."""
    if f"{PREFIX}folds" not in metrics:
        return metrics
    out = dict(metrics)
    for name in names:
        out[name] = metrics.get(f"{PREFIX}{name}", float("nan"))
    out[events_key] = metrics[f"{PREFIX}events"]
    return out


def cv_label(metrics: dict[str, float]) -> str:
    """' (5-fold x 2 cross-validation)' for a gate's rule text when it judged CV figures, else ''."""
    if f"{PREFIX}folds" not in metrics:
        return ""
    return f" ({int(metrics[PREFIX + 'folds'])}-fold x {int(metrics[PREFIX + 'repeats'])} cross-validation)"


def run_folds(splits: list[Split], score_fold: Callable[[Split], dict[str, float]], progress: Progress,
              plan: CVPlan) -> list[dict[str, float]]:
    """Score every fold in turn (one line of progress each), in the caller's one thread."""
    results = []
    for number, split in enumerate(splits, start=1):
        metrics = score_fold(split)
        repeat, fold = divmod(number - 1, plan.folds)
        headline = ", ".join(f"{k} {v:.3f}" for k, v in list(metrics.items())[:3])
        progress(f"cross-validation fold {fold + 1}/{plan.folds}, repeat {repeat + 1}/{plan.repeats}: "
                 f"{len(split.test)} held out; {headline}")
        results.append(metrics)
    return results


def cv_report(plan: CVPlan, metrics: dict[str, float]) -> dict[str, object]:
    """The report's ``cross_validation`` part: who chose it and why, and each metric's mean and CI."""
    names = sorted({k[len(PREFIX):].removesuffix("_ci_low") for k in metrics if k.startswith(PREFIX)
                    and k.endswith("_ci_low")})
    return {"folds": plan.folds, "repeats": plan.repeats, "chosen_by": plan.chosen_by, "reason": plan.reason,
            "n": metrics.get(f"{PREFIX}n"), "events": metrics.get(f"{PREFIX}events"),
            "metrics": {name: {"mean": metrics[PREFIX + name], "ci_low": metrics[f"{PREFIX}{name}_ci_low"],
                               "ci_high": metrics[f"{PREFIX}{name}_ci_high"]} for name in names}}


def cv_headline(metrics: dict[str, float], name: str, label: str) -> str:
    folds = int(metrics[PREFIX + "folds"] * metrics[PREFIX + "repeats"])
    return (f"cross-validated {label} {metrics[PREFIX + name]:.3f} (95% CI {metrics[f'{PREFIX}{name}_ci_low']:.3f}-"
            f"{metrics[f'{PREFIX}{name}_ci_high']:.3f}) over {folds} folds")
