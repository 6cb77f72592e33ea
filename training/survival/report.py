"""A survival model's evaluation report, calibration figure and model-card sections.

The calibration plot is at the horizon: per group of predicted risk, the Kaplan-Meier observed risk (which
counts censored patients for the time they were followed) against the mean predicted risk.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from training.card import Section, Table, provenance_section, survival_subgroup_section
from training.gates import GateResult
from training.spec import ModelSpec
from training.survival.parts import SurvivalPart

ROWS = (("model", ""), ("Cox PH (same features)", "cox_ph."), ("Kaplan-Meier (no covariates)", "kaplan_meier."),
        ("naive binary (censored dropped)", "naive_binary."))


def calibration_figure(path: Path, groups: dict[str, list[dict[str, float]]], horizon_days: float) -> Path:
    """KM-observed against mean predicted risk at the horizon, one line per model."""
    fig, ax = plt.subplots(figsize=(5, 5))
    top = 0.05
    for label, rows in groups.items():
        predicted, observed = [r["predicted"] for r in rows], [r["observed_km"] for r in rows]
        ax.plot(predicted, observed, marker="o", label=label)
        top = max(top, *predicted, *observed)
    ax.plot([0, top], [0, top], color="grey", linestyle="--", label="ideal")
    ax.set(xlabel=f"Predicted risk by day {horizon_days:g} (group mean)", ylabel="Kaplan-Meier observed risk",
           title="Calibration at the horizon (test patients)")
    ax.legend()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _cell(metrics: dict[str, float], key: str) -> str:
    value = metrics.get(key)
    if value is None or value != value:
        return "-"
    low, high = metrics.get(f"{key}_ci_low"), metrics.get(f"{key}_ci_high")
    return f"{value:.3f} ({low:.3f}-{high:.3f})" if low is not None and high is not None else f"{value:.3f}"


def performance_table(metrics: dict[str, float]) -> Table:
    keys = ("c_index", "uno_c_index", "auroc_at_horizon", "brier_at_horizon", "integrated_brier",
            "mean_predicted_risk_at_horizon", "observed_expected_at_horizon")
    return Table(["Predictor", "Harrell C", "Uno C", "AUC at horizon", "Brier at horizon", "Integrated Brier",
                  "Mean predicted risk", "Observed/expected"],
                 [[label, *(_cell(metrics, prefix + k) for k in keys)] for label, prefix in ROWS])


def card_sections(spec: ModelSpec, part: SurvivalPart, report: dict[str, Any], gates: list[GateResult],
                  context: dict[str, str], figures: list[Path]) -> list[Section]:
    """The risk task's card headings, filled with what a survival model has."""
    split, metrics, calib = report["split"], report["metrics"], report["calibrator"]
    return [
        ("Intended use and users", [spec.intended_use, f"Task: survival. {spec.description}"]),
        ("Data and eligibility", [
            (f"Fingerprint `{context['fingerprint'][:16]}`; {context['data_origin']}. Every patient is kept, "
            f"censored ones included: {split['train']} train, {split['validation']} validation (early stopping "
            f"and the horizon calibration), {split['test']} test; {int(metrics['test_events'])} events in test, "
            f"{int(metrics['test_events_by_horizon'])} by the horizon.")]),
        ("Outcome and horizon", [
            (f"`{spec.target}`: `{part.event_column}` = 1 at `{part.time_column}` days (0 = censored then). The "
            f"served risk is P(event by day {part.horizon_days:g}).")]),
        ("Method", [
            (f"XGBoost `survival:cox`, best iteration {int(metrics['best_iteration'])} by early stopping on the "
            f"validation Cox negative log-likelihood. Risk = 1 - exp(-H0 * exp(slope * margin)) with slope "
            f"{calib['slope']:.3f} and H0 = {calib['cumulative_hazard']:.4f} (Breslow at the horizon on the "
            f"validation patients; recalibration: {part.recalibration}). Explanations: exact TreeSHAP on the "
            "log hazard ratio scale.")]),
        ("Performance on held-out patients, 95% bootstrap CIs", [performance_table(metrics), *figures]),
        ("Promotion gates", [Table(["Gate", "Rule", "Value", "Result"],
                                   [[g.name, g.rule, f"{g.value:.3f}", "pass" if g.passed else "FAIL"]
                                    for g in gates])]),
        ("Limitations", [spec.limitations or "Developed on one cohort with a random patient split; the horizon "
                         "calibration rests on the validation patients, few in a small cohort."]),
        survival_subgroup_section(report.get("subgroups", [])),
        provenance_section(spec, context, report.get("provenance"), report.get("subgroups")),
        ("Provenance", [Table(["Item", "Value"], [[k, v] for k, v in context.items()])]),
    ]
