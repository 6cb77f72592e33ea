"""The spec keys a survival model brings (``Task.spec_parts``): ``survival`` (its columns and horizon) and
``survival_gates`` (its promotion gates, checked by ``check_survival_gates`` as the shared ``GateResult``),
validated by ``training.spec.ModelSpec`` without editing it.

Its gates are a part of their own because the shared ``gates`` key holds the risk, dose and treatment gate
types; a survival spec that sets ``gates`` is refused rather than having them silently ignored.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from training.cv import cv_label, judged
from training.gates import (
    ChampionComparison,
    GateResult,
    champion_gate,
    ci_low_gate,
    events_label,
    linear_baseline_gate,
)
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
    min_c_index_ci_low: float | None = Field(
        None, ge=0, le=1, description="Harrell's C 95% CI lower bound (bootstrap, or cross-validation) must reach "
                                      "this; null disables")
    observed_expected_at_horizon: tuple[float, float] = Field(
        (0.8, 1.25), description="Kaplan-Meier observed risk at the horizon over mean predicted risk")
    min_test_events: int = Field(20, ge=1, description="events among the test patients (any time)")
    max_brier_at_horizon: float = Field(1.0, gt=0, le=1, description="IPCW Brier score at the horizon")
    max_c_index_drop_vs_cox_ph: float | None = Field(
        None, ge=0, description="the model's C may trail the Cox PH baseline's by at most this on the same "
                                "test patients (point estimate); null disables")
    max_c_index_deficit_vs_cox: float | None = Field(
        0.01, ge=0, description="vs_linear_baseline: refused when the paired bootstrap CI of (C - Cox PH C) on the "
                                "same patients lies wholly below -this; null disables")
    max_c_index_drop_vs_champion: float | None = Field(
        0.02, ge=0, description="the new version may trail the current champion's C on the same test patients by "
                                "at most this (and not be worse beyond noise), nor the best version ever promoted "
                                "by more in total; null disables")


# the figures the survival gates judge: from cross-validation when the run was cross-validated (training.cv.judged)
SURVIVAL_JUDGED = ["c_index", "c_index_ci_low", "observed_expected_at_horizon", "brier_at_horizon",
                   "cox_ph.c_index", "vs_cox_ph.c_index_diff", "vs_cox_ph.c_index_diff_ci_low",
                   "vs_cox_ph.c_index_diff_ci_high"]


def check_survival_gates(gates: SurvivalGates, metrics: dict[str, float],
                         champion: ChampionComparison | None = None) -> list[GateResult]:
    """Every gate, none short-circuiting; a gate on a metric the data could not support (NaN) fails. The figures
    are the test split's, or the cross-validation's (``cv.*``) when the run was cross-validated; the champion is
    always compared on the test split."""
    figures, label = judged(metrics, SURVIVAL_JUDGED, "test_events"), cv_label(metrics)
    low, high = gates.observed_expected_at_horizon
    oe, c, brier = figures["observed_expected_at_horizon"], figures["c_index"], figures["brier_at_horizon"]
    events = events_label(label)
    results = [
        GateResult(name="min_c_index", rule=f"Harrell C >= {gates.min_c_index}{label}", value=c,
                   passed=c >= gates.min_c_index),
    ]
    if gates.min_c_index_ci_low is not None:
        results.append(ci_low_gate("min_c_index_ci_low", "Harrell C", figures.get("c_index_ci_low", float("nan")),
                                   gates.min_c_index_ci_low, label))
    results += [
        GateResult(name="observed_expected_at_horizon", rule=f"{low} <= KM observed / mean predicted risk at the "
                   f"horizon <= {high}{label}", value=oe, passed=low <= oe <= high),
        GateResult(name="min_test_events", rule=f"{events} >= {gates.min_test_events}",
                   value=figures["test_events"], passed=figures["test_events"] >= gates.min_test_events),
        GateResult(name="max_brier_at_horizon", rule=f"Brier at the horizon <= {gates.max_brier_at_horizon}{label}",
                   value=brier, passed=brier <= gates.max_brier_at_horizon),
    ]
    drop = gates.max_c_index_drop_vs_cox_ph
    if drop is not None:
        cox = figures.get("cox_ph.c_index", float("nan"))
        results.append(GateResult(name="vs_cox_ph", rule=f"Harrell C >= Cox PH's - {drop} on the same test patients"
                                  f"{label}", value=c, passed=c >= cox - drop))
    linear = linear_baseline_gate(figures, "vs_cox_ph.c_index_diff", "Harrell C", "Cox PH",
                                  gates.max_c_index_deficit_vs_cox, label)
    if linear is not None:
        results.append(linear)
    if champion is not None and gates.max_c_index_drop_vs_champion is not None:
        results.append(champion_gate(champion, gates.max_c_index_drop_vs_champion))
    return results
