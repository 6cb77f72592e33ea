"""Promotion gates: rules a model version must pass on held-out patients before it may serve.

Every task reports its gates as ``GateResult``; the alias moves only if all passed (``training.run``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel

from training.cv import cv_label, judged
from training.spec import DoseGates, GateRule, Gates

_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, ">": operator.gt,
                                                  "<": operator.lt}


class GateResult(BaseModel):
    name: str
    rule: str
    value: float
    passed: bool


@dataclass(frozen=True)
class ChampionComparison:
    """The candidate against the current champion on the same test patients, and the best version ever promoted.

    ``diff`` is candidate - champion (paired bootstrap 95% CI ``ci_low``-``ci_high``); ``best_score`` is the
    highest score any promoted version recorded, the floor repeated small losses cannot ratchet past.
    """

    metric: str  # in words: "AUROC", "Harrell C"
    version: str  # the champion's
    n: int  # test patients both were scored on
    score: float  # the candidate's
    diff: float
    ci_low: float
    ci_high: float
    best_version: str | None = None
    best_score: float | None = None


# the figures the risk gates judge: from cross-validation when the run was cross-validated (training.cv.judged)
RISK_JUDGED = ["auroc", "auroc_ci_low", "auroc_ci_high", "brier", "calibration_slope", "calibration_slope_ci_low",
               "calibration_slope_ci_high", "vs_logistic_regression.auroc_diff",
               "vs_logistic_regression.auroc_diff_ci_low", "vs_logistic_regression.auroc_diff_ci_high"]


def check_gates(gates: Gates, metrics: dict[str, float], champion: ChampionComparison | None = None
                ) -> list[GateResult]:
    """Evaluate every gate (none short-circuits) so a failed run reports all its shortfalls at once.

    The figures are the test split's, or the cross-validation's (``cv.*``) when the run was cross-validated;
    the champion comparison is always on the test split (the champion may have been trained on CV folds)."""
    figures, label = judged(metrics, RISK_JUDGED), cv_label(metrics)
    auroc = figures["auroc"]
    results = [
        GateResult(name="min_auroc", rule=f"AUROC >= {gates.min_auroc}{label}", value=auroc,
                   passed=auroc >= gates.min_auroc),
    ]
    if gates.min_auroc_ci_low is not None:
        results.append(ci_low_gate("min_auroc_ci_low", "AUROC", figures.get("auroc_ci_low", float("nan")),
                                   gates.min_auroc_ci_low, label))
    results += [
        slope_gate(gates, figures, label),
        GateResult(name="max_brier", rule=f"Brier <= {gates.max_brier}{label}", value=figures["brier"],
                   passed=figures["brier"] <= gates.max_brier),
        GateResult(name="min_test_events", rule=f"{events_label(label)} >= {gates.min_test_events}",
                   value=figures["events"],
                   passed=figures["events"] >= gates.min_test_events),
    ]
    if gates.min_subgroup_auroc > 0:
        results.append(subgroup_gate(gates.min_subgroup_auroc, metrics))
    linear = linear_baseline_gate(figures, "vs_logistic_regression.auroc_diff", "AUROC", "logistic regression",
                                  gates.max_auroc_deficit_vs_linear, label)
    if linear is not None:
        results.append(linear)
    if champion is not None and gates.max_auroc_drop_vs_champion is not None:
        results.append(champion_gate(champion, gates.max_auroc_drop_vs_champion))
    return results


def subgroup_gate(threshold: float, metrics: dict[str, float]) -> GateResult:
    """min_subgroup_auroc, judged beyond noise: refused when some reported group's AUROC lies below the threshold
    with its whole 95% CI (its upper bound is below it). A group of 150 patients can show 0.59 by chance where the
    model's AUROC is 0.80 (a coin flip on the point value); a group whose CI reaches the threshold is not shown to
    fall below it. The value reported is the worst point AUROC."""
    worst = metrics.get("worst_subgroup_auroc", float("nan"))
    high = metrics.get("worst_subgroup_auroc_ci_high", float("nan"))
    return GateResult(name="min_subgroup_auroc", rule=f"no subgroup's AUROC below {threshold} beyond noise (lowest "
                      f"upper 95% bound {high:.3f} >= {threshold}; worst point AUROC {worst:.3f})", value=worst,
                      passed=bool(high >= threshold))


def ci_low_gate(name: str, metric: str, low: float, threshold: float, label: str) -> GateResult:
    """A gate on a metric's 95% CI lower bound (``min_auroc_ci_low``, ``min_c_index_ci_low``): on small data the
    point estimate alone passes a model the interval cannot tell from chance; NaN (not estimable) fails."""
    return GateResult(name=name, rule=f"{metric} 95% CI lower bound >= {threshold}{label}", value=low,
                      passed=low >= threshold)


def events_label(label: str) -> str:
    return "events behind the cross-validated figures" if label else "test events"


def slope_gate(gates: Gates, figures: dict[str, float], label: str) -> GateResult:
    """The calibration slope judged on its 95% CI, so that on small data the result is not a coin flip.

    Fails when the CI is wider than ``max_calibration_slope_ci_width`` (default twice the band's width): too
    few events to judge, said as such; otherwise passes unless the whole CI lies outside the band (the slope is
    shown, beyond noise, to be too flat or too steep)."""
    low, high = gates.calibration_slope
    slope = figures["calibration_slope"]
    ci_low = figures.get("calibration_slope_ci_low", float("nan"))
    ci_high = figures.get("calibration_slope_ci_high", float("nan"))
    width = gates.max_calibration_slope_ci_width or 2 * (high - low)
    band = f"calibration slope 95% CI overlaps [{low}, {high}] and is at most {width:g} wide{label}"
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return GateResult(name="calibration_slope", rule=f"{band}: its CI could not be estimated", value=slope,
                          passed=False)
    if ci_high - ci_low > width:
        return GateResult(name="calibration_slope", rule=f"{band}: too few events to judge (CI {ci_low:.2f}-"
                          f"{ci_high:.2f} is {ci_high - ci_low:.2f} wide)", value=slope, passed=False)
    return GateResult(name="calibration_slope", rule=f"{band} (CI {ci_low:.2f}-{ci_high:.2f})", value=slope,
                      passed=bool(ci_low <= high and ci_high >= low))


def linear_baseline_gate(figures: dict[str, float], name: str, metric: str, baseline: str, margin: float | None,
                         label: str) -> GateResult | None:
    """vs_linear_baseline: refused when the paired CI of (model - linear baseline) lies wholly below -margin,
    i.e. the model is worse than its own linear baseline on the same patients beyond noise. None when disabled or
    not measured."""
    if margin is None or name not in figures:
        return None
    diff, high = figures[name], figures.get(f"{name}_ci_high", float("nan"))
    return GateResult(name="vs_linear_baseline", rule=f"{metric} - {baseline} {metric} on the same patients: "
                      f"95% CI upper bound ({high:.3f}) >= -{margin} (not worse beyond noise){label}", value=diff,
                      passed=bool(high >= -margin))


def champion_gate(c: ChampionComparison, margin: float) -> GateResult:
    """vs_champion: a paired comparison on the same test patients, with a floor that small losses cannot ratchet
    past. Refused when the candidate trails the champion by more than ``margin``, or is worse beyond noise (the
    paired CI of the difference lies wholly below 0), or trails the best version ever promoted by more than
    ``margin`` in total."""
    rule = (f"{c.metric} - champion (version {c.version})'s on the same {c.n} test patients {c.diff:+.3f} (95% CI "
            f"{c.ci_low:+.3f} to {c.ci_high:+.3f}) >= -{margin} and its CI not wholly below 0")
    passed = c.diff >= -margin and not c.ci_high < 0
    if c.best_score is not None:
        floor = c.best_score - margin
        rule += (f"; {c.metric} {c.score:.3f} >= best ever promoted (version {c.best_version}) {c.best_score:.3f}"
                 f" - {margin} = {floor:.3f}")
        passed = passed and c.score >= floor
    return GateResult(name="vs_champion", rule=rule, value=c.diff, passed=bool(passed))


def all_passed(results: list[GateResult]) -> bool:
    return all(r.passed for r in results)


def check_dose_gates(gates: DoseGates, metrics: dict[str, float]) -> list[GateResult]:
    """A dose model's gates on its pooled site-held-out predictions; all are evaluated, none short-circuits."""
    results = [
        GateResult(name="max_mae", rule=f"MAE <= {gates.max_mae} mg/week", value=metrics["mae"],
                   passed=metrics["mae"] <= gates.max_mae),
        GateResult(name="min_pw20", rule=f"PW20 >= {gates.min_pw20}%", value=metrics["pw20"],
                   passed=metrics["pw20"] >= gates.min_pw20),
        GateResult(name="min_r2", rule=f"R^2 >= {gates.min_r2}", value=metrics["r2"],
                   passed=metrics["r2"] >= gates.min_r2),
        GateResult(name="min_test_patients", rule=f"held-out patients >= {gates.min_test_patients}",
                   value=metrics["n"], passed=metrics["n"] >= gates.min_test_patients),
        GateResult(name="min_interval_coverage", rule=f"interval coverage >= {gates.min_interval_coverage}",
                   value=metrics["interval_coverage"],
                   passed=metrics["interval_coverage"] >= gates.min_interval_coverage),
    ]
    if gates.max_mae_vs_baseline is not None and "vs_iwpc_pharmacogenetic.mae_diff" in metrics:
        diff = metrics["vs_iwpc_pharmacogenetic.mae_diff"]
        results.append(GateResult(
            name="vs_iwpc_pharmacogenetic", rule=f"MAE - IWPC pharmacogenetic MAE <= {gates.max_mae_vs_baseline} "
                                                 "mg/week on the same patients", value=diff,
            passed=diff <= gates.max_mae_vs_baseline))
    return results


def check_rules(rules: list[GateRule], metrics: dict[str, float]) -> list[GateResult]:
    """Gates written as data in the spec (metric, operator, threshold or another metric); all are evaluated."""
    results = []
    for rule in rules:
        tested = metrics[rule.check or rule.value]
        reference = rule.threshold if rule.threshold is not None else metrics[str(rule.versus)]
        results.append(GateResult(name=rule.name, rule=rule.rule, value=metrics[rule.value],
                                  passed=bool(_OPS[rule.op](tested, reference))))
    return results
