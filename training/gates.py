"""Promotion gates: rules a model version must pass on held-out patients before it may serve."""

from __future__ import annotations

from pydantic import BaseModel

from training.spec import Gates


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
