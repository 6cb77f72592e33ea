"""The spec keys a survival model brings (``Task.spec_parts``): ``survival`` (its columns and horizon) and
``survival_gates`` (its promotion gates, checked by ``check_survival_gates`` as the shared ``GateResult``),
validated by ``training.spec.ModelSpec`` without editing it.

Its gates are a part of their own because the shared ``gates`` key holds the risk, dose and treatment gate
types; a survival spec that sets ``gates`` is refused rather than having them silently ignored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from training.gates import GateResult
from training.spec_parts import Strict

Recalibration = Literal["slope", "baseline"]


class SurvivalPart(Strict):
    """Which columns hold follow-up and outcome, and the horizon the served risk is about."""

    time_column: str = Field(description="days from the index date to the event or to censoring (> 0)")
    event_column: str = Field(description="1 = the event was observed, 0 = censored (still kept)")
    horizon_days: float = Field(gt=0, description="the served risk is P(event by this many days)")
    recalibration: Recalibration = Field(
        "slope", description="on the validation patients: 'slope' fits a Cox model on the booster's margin (a "
                             "calibration slope) and its Breslow baseline; 'baseline' re-estimates only the "
                             "Breslow baseline (slope 1)")
    risk_groups: int = Field(5, ge=2, le=10, description="groups of predicted risk in the calibration plot")


class SurvivalGates(Strict):
    """Promotion gates of a survival model, checked on the held-out test patients."""

    min_c_index: float = Field(0.5, ge=0, le=1, description="Harrell's C on the test patients")
    observed_expected_at_horizon: tuple[float, float] = Field(
        (0.8, 1.25), description="Kaplan-Meier observed risk at the horizon over mean predicted risk")
    min_test_events: int = Field(20, ge=1, description="events among the test patients (any time)")
    max_brier_at_horizon: float = Field(1.0, gt=0, le=1, description="IPCW Brier score at the horizon")
    max_c_index_drop_vs_cox_ph: float | None = Field(
        None, ge=0, description="the model's C may trail the Cox PH baseline's by at most this on the same "
                                "test patients; null disables")


def check_survival_gates(gates: SurvivalGates, metrics: dict[str, float]) -> list[GateResult]:
    """Every gate, none short-circuiting; a gate on a metric the data could not support (NaN) fails."""
    low, high = gates.observed_expected_at_horizon
    oe, c, brier = metrics["observed_expected_at_horizon"], metrics["c_index"], metrics["brier_at_horizon"]
    results = [
        GateResult(name="min_c_index", rule=f"Harrell C >= {gates.min_c_index}", value=c,
                   passed=c >= gates.min_c_index),
        GateResult(name="observed_expected_at_horizon", rule=f"{low} <= KM observed / mean predicted risk at the "
                   f"horizon <= {high}", value=oe, passed=low <= oe <= high),
        GateResult(name="min_test_events", rule=f"test events >= {gates.min_test_events}",
                   value=metrics["test_events"], passed=metrics["test_events"] >= gates.min_test_events),
        GateResult(name="max_brier_at_horizon", rule=f"Brier at the horizon <= {gates.max_brier_at_horizon}",
                   value=brier, passed=brier <= gates.max_brier_at_horizon),
    ]
    drop = gates.max_c_index_drop_vs_cox_ph
    if drop is not None:
        cox = metrics.get("cox_ph.c_index", float("nan"))
        results.append(GateResult(name="vs_cox_ph", rule=f"Harrell C >= Cox PH's - {drop} on the same test patients",
                                  value=c, passed=c >= cox - drop))
    return results
