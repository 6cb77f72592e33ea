"""Promotion gates: rules a model version must pass on held-out patients before it may serve.

Every task reports its gates as ``GateResult``; the alias moves only if all passed (``training.run``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable

from pydantic import BaseModel

from training.spec import DoseGates, GateRule, Gates

_OPS: dict[str, Callable[[float, float], bool]] = {">=": operator.ge, "<=": operator.le, ">": operator.gt,
                                                  "<": operator.lt}


class GateResult(BaseModel):
    name: str
    rule: str
    value: float
    passed: bool


def check_gates(gates: Gates, metrics: dict[str, float], champion_auroc: float | None = None) -> list[GateResult]:
    """Evaluate every gate (none short-circuits) so a failed run reports all its shortfalls at once."""
    low, high = gates.calibration_slope
    slope = metrics["calibration_slope"]
    results = [
        GateResult(name="min_auroc", rule=f"AUROC >= {gates.min_auroc}", value=metrics["auroc"],
                   passed=metrics["auroc"] >= gates.min_auroc),
        GateResult(name="calibration_slope", rule=f"{low} <= calibration slope <= {high}", value=slope,
                   passed=low <= slope <= high),
        GateResult(name="max_brier", rule=f"Brier <= {gates.max_brier}", value=metrics["brier"],
                   passed=metrics["brier"] <= gates.max_brier),
        GateResult(name="min_test_events", rule=f"test events >= {gates.min_test_events}",
                   value=metrics["events"], passed=metrics["events"] >= gates.min_test_events),
    ]
    if gates.min_subgroup_auroc > 0:
        worst = metrics.get("worst_subgroup_auroc", float("nan"))
        results.append(GateResult(name="min_subgroup_auroc", rule=f"worst subgroup AUROC >= {gates.min_subgroup_auroc}",
                                  value=worst, passed=worst >= gates.min_subgroup_auroc))
    if champion_auroc is not None and gates.max_auroc_drop_vs_champion is not None:
        floor = champion_auroc - gates.max_auroc_drop_vs_champion
        results.append(GateResult(
            name="vs_champion", rule=f"AUROC >= champion's {champion_auroc:.3f} - {gates.max_auroc_drop_vs_champion} "
                                     "on the same test patients",
            value=metrics["auroc"], passed=metrics["auroc"] >= floor))
    return results


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
