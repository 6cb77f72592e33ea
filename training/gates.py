"""Promotion gates: rules a model version must pass on held-out patients before it may serve."""

from __future__ import annotations

from pydantic import BaseModel

from training.spec import Gates


class GateResult(BaseModel):
    name: str
    rule: str
    value: float
    passed: bool


def check_gates(gates: Gates, metrics: dict[str, float]) -> list[GateResult]:
    """Evaluate every gate (none short-circuits) so a failed run reports all its shortfalls at once."""
    low, high = gates.calibration_slope
    slope = metrics["calibration_slope"]
    return [
        GateResult(name="min_auroc", rule=f"AUROC >= {gates.min_auroc}", value=metrics["auroc"],
                   passed=metrics["auroc"] >= gates.min_auroc),
        GateResult(name="calibration_slope", rule=f"{low} <= calibration slope <= {high}", value=slope,
                   passed=low <= slope <= high),
        GateResult(name="max_brier", rule=f"Brier <= {gates.max_brier}", value=metrics["brier"],
                   passed=metrics["brier"] <= gates.max_brier),
        GateResult(name="min_test_events", rule=f"test events >= {gates.min_test_events}",
                   value=metrics["events"], passed=metrics["events"] >= gates.min_test_events),
    ]


def all_passed(results: list[GateResult]) -> bool:
    return all(r.passed for r in results)
