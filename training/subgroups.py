"""The same metrics within subgroups (sex, genetic ancestry, age band, ...), and the largest gap.

Health disparities are a stated concern of the field (TRIPOD+AI items 3c, 14, 23a): a model that is good
on average and poor for one group must say so. The per-group figures are computed by fairlearn's
``MetricFrame`` (one metric function per figure, bootstrap CIs by its ``n_boot``), not by a hand-written
group-by.

Which columns, and what they mean:

- A subgroup is any column of the training table, a model feature included (``training.data`` keeps the
  feature columns in ``TrainingData.cohort`` for this), except the patient id. The spec's ``subgroups``
  are checked when the data is read, before anything is fitted (``checked_cohort``): a subgroup the spec
  names that is not a column is an error naming it and the columns there are. Left out of the spec, the
  default (sex, ancestry, age band) is reported for those of its columns the table has.
- A numeric column with more than ``MAX_LEVELS`` distinct values is binned into ``QUANTILE_BINS`` groups at
  the quantiles of the patients evaluated (labelled by rank and range, e.g. ``Q2 54 to 63``); other columns
  are used level by level (a text column with more than ``MAX_TEXT_LEVELS`` is refused: its levels would
  become MLflow metric names). A patient with no value is the level ``(missing)``: no one is left out.
- A group with fewer than ``MIN_EVENTS`` events or non-events is reported with its size and events only
  (no AUROC, C-index or calibration: they would be noise); the card says so.

Risk models (``risk_subgroups``): AUROC with a 95% bootstrap CI, calibration-in-the-large as observed/expected
(events over the sum of predicted risks) and as the logistic intercept, calibration slope, Brier, and the
true- and false-positive rates at each of the spec's ``decision_thresholds`` (risk >= threshold = positive).
Survival models (``survival_subgroups``): Harrell's C-index with a CI, and the Kaplan-Meier observed risk at
the horizon over the mean predicted risk (observed/expected, with a CI).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame
from scipy.stats import rankdata
from sklearn.metrics import brier_score_loss
from sksurv.metrics import concordance_index_censored
from sksurv.nonparametric import kaplan_meier_estimator

from training.errors import DataError
from training.evaluate import calibration_intercept, calibration_slope
from training.spec import ModelSpec

MIN_EVENTS = 10  # fewer events (or non-events) in a group: its size only, no discrimination or calibration
MAX_LEVELS = 10  # a numeric column with more distinct values than this is binned
QUANTILE_BINS = 4  # ... into this many quantile groups
MAX_TEXT_LEVELS = 30  # a text column with more levels is refused: its levels would be logged as metric names
MISSING_LEVEL = "(missing)"
CI = [0.025, 0.975]
DEFAULT_SUBGROUPS = ("sex", "ancestry", "age_band")  # ModelSpec.subgroups' default
RISK_KEYS = ("auroc", "auroc_ci_low", "auroc_ci_high", "observed_expected", "observed_expected_ci_low",
             "observed_expected_ci_high", "calibration_intercept", "calibration_slope", "brier", "mean_risk",
             "event_rate")

Metric = Callable[..., float]


@dataclass(frozen=True)
class SubgroupReport:
    """Per-group rows (for the card and the JSON report), the largest gaps and the flat MLflow metrics."""

    rows: list[dict[str, Any]]
    gaps: dict[str, dict[str, Any]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


# --- which columns ------------------------------------------------------------------------------------------

def subgroup_columns(spec: ModelSpec, available: Iterable[str], source: object = "the training table") -> list[str]:
    """The columns to report by. Named in the spec: each must be a column (an error names the unknown ones and
    the columns there are); left to the default: those of the default columns the table has."""
    columns = list(available)
    if "subgroups" not in spec.model_fields_set:
        return [c for c in spec.subgroups if c in columns]
    ids = [c for c in spec.subgroups if c in ("patient_key", spec.id_column)]
    if ids:
        raise DataError(f"{source}: subgroups: {', '.join(ids)} is the patient id column, not a grouping")
    unknown = [c for c in spec.subgroups if c not in columns]
    if unknown:
        shown = ", ".join(columns[:40]) + (f", ... ({len(columns)} columns)" if len(columns) > 40 else "")
        raise DataError(f"{source}: subgroups: {', '.join(unknown)} is not a column of the table or a feature "
                        f"(columns: {shown})")
    return list(spec.subgroups)


def checked_cohort(table: pd.DataFrame, spec: ModelSpec, source: object = "the training table") -> pd.DataFrame:
    """The cohort columns of ``TrainingData`` (every column, features included), once the spec's subgroups are
    known to be among them: called by ``training.data`` as the table is read, so a misspelt subgroup is refused
    before anything is fitted."""
    subgroup_columns(spec, table.columns, source)
    return table


def group_labels(values: pd.Series) -> pd.Series:
    """One text label per patient: the level, a quantile range for a many-valued numeric column, or
    ``(missing)``."""
    values = values.reset_index(drop=True)
    numeric = pd.to_numeric(values, errors="coerce") if values.dtype.kind in "biuf" else None
    if numeric is not None and numeric.dropna().nunique() > MAX_LEVELS:
        binned = pd.qcut(numeric, QUANTILE_BINS, duplicates="drop")
        names = {b: f"Q{i} {_number(b.left)} to {_number(b.right)}" for i, b in enumerate(binned.cat.categories, 1)}
        labels = binned.map(names).astype(object)  # Q1..Q4 sort in order
    elif numeric is not None:
        labels = numeric.map(_number).astype(object)
    else:
        if values.dropna().nunique() > MAX_TEXT_LEVELS:
            raise DataError(f"subgroups: column {values.name} has {values.dropna().nunique()} distinct text values, "
                            f"more than the {MAX_TEXT_LEVELS} a subgroup report takes (its levels become metric "
                            "names): group it into fewer levels first")
        labels = values.astype(object).map(str)
    return labels.where(values.notna().to_numpy(), MISSING_LEVEL).astype(str)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


# --- risk models --------------------------------------------------------------------------------------------

def risk_subgroups(y: np.ndarray, risk: np.ndarray, cohort: pd.DataFrame, columns: list[str],
                   thresholds: Iterable[float], seed: int, n_boot: int = 100) -> SubgroupReport:
    """Every group's risk metrics, the largest AUROC gap per column and the metrics MLflow logs:
    ``subgroup.<column>.<level>.auroc`` (and ``.observed_expected``, ``.tpr_at_<t>``, ``.fpr_at_<t>``),
    ``worst_subgroup_auroc`` (and ``worst_subgroup_auroc_ci_high``, the lowest upper 95% bound) and
    ``subgroup_gap.<column>``."""
    rows = subgroup_metrics(y, risk, cohort, columns, seed, n_boot, thresholds)
    gaps = largest_gaps(rows)
    metrics: dict[str, float] = {"worst_subgroup_auroc": worst_subgroup_auroc(rows),
                                 # the group most surely below a threshold: the lowest upper CI bound (the gate's)
                                 "worst_subgroup_auroc_ci_high": worst_subgroup_auroc(rows, "auroc_ci_high")}
    for row in rows:
        prefix = f"subgroup.{row['group']}.{row['level']}."
        metrics.update({prefix + k: float(v) for k, v in row.items()
                        if k in ("auroc", "observed_expected") or k.startswith(("tpr_at_", "fpr_at_"))})
    metrics.update({f"subgroup_gap.{group}": gap["gap"] for group, gap in gaps.items()})
    return SubgroupReport(rows, gaps, metrics)


def subgroup_metrics(y: np.ndarray, risk: np.ndarray, cohort: pd.DataFrame, columns: list[str],
                     seed: int, n_boot: int = 100, thresholds: Iterable[float] = ()) -> list[dict[str, Any]]:
    """One row per level of each column: its size and events, and (with enough of both) the risk metrics.
    Columns not in ``cohort`` are skipped here: ``subgroup_columns`` refuses a spec that names one."""
    y, risk = np.asarray(y), np.asarray(risk, dtype=np.float64)
    cuts = [float(t) for t in thresholds]
    rows: list[dict[str, Any]] = []
    for column in columns:
        if column not in cohort.columns:
            continue
        labels = group_labels(cohort[column])
        counts = _frame({"n": _count, "events": _events}, y, risk, labels)
        enough = [lvl for lvl in counts.index
                  if counts.loc[lvl, "events"] >= MIN_EVENTS and counts.loc[lvl, "n"] - counts.loc[lvl, "events"]
                  >= MIN_EVENTS]
        scored = labels.isin(enough).to_numpy()
        point = ci = None
        if enough:
            metrics: dict[str, Metric] = {"auroc": _auroc, "observed_expected": _observed_expected,
                                          "calibration_intercept": calibration_intercept,
                                          "calibration_slope": calibration_slope, "brier": brier_score_loss,
                                          "mean_risk": _mean_risk, "event_rate": _event_rate}
            for t in cuts:
                metrics[f"tpr_at_{t:g}"] = _rate_at(t, positives=True)
                metrics[f"fpr_at_{t:g}"] = _rate_at(t, positives=False)
            point = _frame(metrics, y[scored], risk[scored], labels[scored])
            ci = _frame({"auroc": _auroc, "observed_expected": _observed_expected}, y[scored], risk[scored],
                        labels[scored], n_boot, seed)
        for level in sorted(counts.index):
            row: dict[str, Any] = {"group": column, "level": level, "n": int(counts.loc[level, "n"]),
                                   "events": int(counts.loc[level, "events"])}
            if point is not None and ci is not None and level in enough:
                row.update({k: float(v) for k, v in point.loc[level].items()})
                for name in ("auroc", "observed_expected"):
                    row[f"{name}_ci_low"], row[f"{name}_ci_high"] = (float(ci[0].loc[level, name]),
                                                                     float(ci[1].loc[level, name]))
            rows.append(row)
    return rows


def largest_gaps(rows: list[dict[str, Any]], key: str = "auroc") -> dict[str, dict[str, Any]]:
    """Per grouping, the best and worst levels by ``key`` (AUROC, or C-index) and the gap between them."""
    gaps = {}
    for group in sorted({r["group"] for r in rows}):
        scored = [r for r in rows if r["group"] == group and r.get(key) == r.get(key) and key in r]
        if len(scored) < 2:
            continue
        worst, best = min(scored, key=lambda r: r[key]), max(scored, key=lambda r: r[key])
        gaps[group] = {"worst": worst["level"], f"worst_{key}": worst[key], "best": best["level"],
                       f"best_{key}": best[key], "gap": best[key] - worst[key]}
    return gaps


def worst_subgroup_auroc(rows: list[dict[str, Any]], key: str = "auroc") -> float:
    scored = [r[key] for r in rows if key in r and r[key] == r[key]]
    return float(min(scored)) if scored else float("nan")


# --- survival models ----------------------------------------------------------------------------------------

def survival_subgroups(event: np.ndarray, time: np.ndarray, score: np.ndarray, risk: np.ndarray,
                       horizon_days: float, cohort: pd.DataFrame, columns: list[str], seed: int,
                       n_boot: int = 100) -> SubgroupReport:
    """Per group of held-out patients: n, events (any time and by the horizon), Harrell's C of ``score`` (higher
    = higher hazard) with a CI, and the Kaplan-Meier risk at the horizon over the mean predicted ``risk``
    (observed/expected, with a CI). MLflow metrics: ``subgroup.<column>.<level>.c_index`` and
    ``.observed_expected_at_horizon``, ``worst_subgroup_c_index``, ``subgroup_gap.<column>``."""
    event = np.asarray(event).astype(bool)
    time, score, risk = (np.asarray(a, dtype=np.float64) for a in (time, score, risk))

    def c_index(e: np.ndarray, s: np.ndarray, time: np.ndarray, risk: np.ndarray) -> float:  # noqa: ARG001
        return _harrell(e, s, time)

    def observed_expected(e: np.ndarray, s: np.ndarray, time: np.ndarray, risk: np.ndarray) -> float:  # noqa: ARG001
        return _km_observed_expected(e, time, risk, horizon_days)

    metrics: dict[str, Metric] = {"c_index": c_index, "observed_expected_at_horizon": observed_expected}
    rows: list[dict[str, Any]] = []
    for column in columns:
        if column not in cohort.columns:
            continue
        labels = group_labels(cohort[column])
        by_horizon = event & (time <= horizon_days)
        counts = _frame({"n": _count, "events": _events}, event.astype(int), score, labels)
        early = _frame({"events_by_horizon": _events}, by_horizon.astype(int), score, labels)
        enough = [lvl for lvl in counts.index if counts.loc[lvl, "events"] >= MIN_EVENTS]
        scored = labels.isin(enough).to_numpy()
        params = {"time": time[scored], "risk": risk[scored]}
        point = ci = None
        if enough:
            point = _frame(metrics, event[scored].astype(int), score[scored], labels[scored], params=params)
            ci = _frame(metrics, event[scored].astype(int), score[scored], labels[scored], n_boot, seed, params)
        for level in sorted(counts.index):
            row: dict[str, Any] = {"group": column, "level": level, "n": int(counts.loc[level, "n"]),
                                   "events": int(counts.loc[level, "events"]),
                                   "events_by_horizon": int(early.loc[level, "events_by_horizon"])}
            if point is not None and ci is not None and level in enough:
                for name in metrics:
                    row[name] = float(point.loc[level, name])
                    row[f"{name}_ci_low"], row[f"{name}_ci_high"] = (float(ci[0].loc[level, name]),
                                                                     float(ci[1].loc[level, name]))
            rows.append(row)
    gaps = largest_gaps(rows, "c_index")
    out: dict[str, float] = {"worst_subgroup_c_index": worst_subgroup_auroc(rows, "c_index")}
    for row in rows:
        prefix = f"subgroup.{row['group']}.{row['level']}."
        out.update({prefix + k: float(row[k]) for k in ("c_index", "observed_expected_at_horizon") if k in row})
    out.update({f"subgroup_gap.{group}": gap["gap"] for group, gap in gaps.items()})
    return SubgroupReport(rows, gaps, out)


# --- metric functions (fairlearn calls each with one group's y_true, y_pred and sample params) ---------------

def _frame(metrics: dict[str, Metric], y: np.ndarray, pred: np.ndarray, labels: pd.Series, n_boot: int = 0,
           seed: int = 0, params: dict[str, np.ndarray] | None = None) -> Any:
    """``MetricFrame(...).by_group`` (levels x metrics), or with ``n_boot`` its 95% CI pair of frames."""
    sample_params = dict.fromkeys(metrics, params) if params else None
    boot: dict[str, Any] = {"n_boot": n_boot, "ci_quantiles": CI, "random_state": seed} if n_boot else {}
    frame = MetricFrame(metrics=metrics, y_true=y, y_pred=pred, sensitive_features=labels.to_numpy(),
                        sample_params=sample_params, **boot)
    if n_boot:
        low, high = frame.by_group_ci
        return low, high
    return frame.by_group


def _count(y: np.ndarray, pred: np.ndarray) -> float:  # noqa: ARG001
    return float(len(y))


def _events(y: np.ndarray, pred: np.ndarray) -> float:  # noqa: ARG001
    return float(np.sum(y))


def _mean_risk(y: np.ndarray, risk: np.ndarray) -> float:  # noqa: ARG001
    return float(np.mean(risk))


def _event_rate(y: np.ndarray, risk: np.ndarray) -> float:  # noqa: ARG001
    return float(np.mean(y))


def _auroc(y: np.ndarray, risk: np.ndarray) -> float:
    """AUROC as the Mann-Whitney statistic on average ranks (equal to ``roc_auc_score``, ties included, and
    some 20 times faster, which the bootstrap repeats); NaN where a (bootstrap) group holds one class only."""
    positive = np.asarray(y) == 1
    n1 = int(positive.sum())
    n0 = len(positive) - n1
    if n1 == 0 or n0 == 0:
        return float("nan")
    ranks = rankdata(risk)
    return float((ranks[positive].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _observed_expected(y: np.ndarray, risk: np.ndarray) -> float:
    """Calibration-in-the-large as a ratio: events over the sum of predicted risks (1 is ideal)."""
    expected = float(np.sum(risk))
    return float(np.sum(y)) / expected if expected > 0 else float("nan")


def _rate_at(threshold: float, positives: bool) -> Metric:
    """True-positive rate (``positives``) or false-positive rate of the rule risk >= threshold."""
    def rate(y: np.ndarray, risk: np.ndarray) -> float:
        among = np.asarray(y) == (1 if positives else 0)
        return float(np.mean(np.asarray(risk)[among] >= threshold)) if among.any() else float("nan")
    return rate


def _harrell(event: np.ndarray, score: np.ndarray, time: np.ndarray) -> float:
    try:
        return float(concordance_index_censored(np.asarray(event).astype(bool), time, score)[0])
    except ValueError:  # no comparable pair (a bootstrap group without events)
        return float("nan")


def _km_observed_expected(event: np.ndarray, time: np.ndarray, risk: np.ndarray, horizon: float) -> float:
    """Kaplan-Meier risk at the horizon (censoring accounted for) over the mean predicted risk."""
    mean = float(np.mean(risk))
    if not mean > 0:
        return float("nan")
    times, surv = kaplan_meier_estimator(np.asarray(event).astype(bool), time)
    upto = surv[times <= horizon]
    return (float(1.0 - upto[-1]) if len(upto) else 0.0) / mean
