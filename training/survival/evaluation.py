"""The survival evaluation: the model and its baselines on the same test patients, the calibration figure
and the report the card and MLflow take (metrics flat, baselines prefixed: ``cox_ph.c_index``, ...).

On a simulated cohort (the outcomes carry ``true_risk_<target>``, the true risk at the outcome's horizon) the
oracle is scored too: ``oracle_c_index`` (Harrell's C of the true risk) and
``oracle_observed_expected_at_horizon`` (Kaplan-Meier observed over the mean true risk: what sampling and
censoring alone leave of a perfect model), only when the spec's horizon is the truth's (within a day).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from features.outcomes import OUTCOMES
from kernel.artifacts.survival import DAYS_PER_YEAR
from training.card import provenance_facts
from training.fit import FittedModel
from training.spec import ModelSpec
from training.split import Split
from training.subgroups import subgroup_columns, survival_subgroups
from training.survival import baselines
from training.survival import metrics as m
from training.survival.fit import SurvivalData
from training.survival.parts import SurvivalPart
from training.survival.report import calibration_figure
from training.survival.scoring import booster_scored, cohort_metrics, scored_metrics
from training.task import Evaluation

NAIVE_KEYS = ("mean_predicted_risk_at_horizon", "observed_expected_at_horizon", "observed_expected_at_horizon_ci_low",
              "observed_expected_at_horizon_ci_high", "brier_at_horizon", "c_index", "auroc_at_horizon")


def evaluate_survival(spec: ModelSpec, part: SurvivalPart, survival: SurvivalData, split: Split,
                      fitted: FittedModel, figures_dir: Path) -> Evaluation:
    """Metrics with bootstrap CIs for the model and each baseline, and KM-observed vs predicted by risk group."""
    horizon, samples, seed = part.horizon_days, spec.bootstrap_samples, spec.seed
    # the censoring distribution behind every IPCW weight: all patients' follow-up, since scikit-survival refuses
    # a test time beyond the reference's last one (and censoring says nothing about the model being judged)
    y_train, y_test = survival.surv(np.arange(len(survival.time))), survival.surv(split.test)
    scored = {"model": booster_scored(fitted, survival, split),
              "cox_ph": baselines.cox_ph(survival, split, horizon, spec),
              "kaplan_meier": baselines.kaplan_meier(survival, split, horizon),
              "naive_binary": baselines.naive_binary(spec, survival, split, horizon)}
    metrics = {**cohort_metrics(survival, split, horizon),
               **scored_metrics(scored["model"], y_train, y_test, horizon, samples, seed)}
    metrics.update(_prefixed("cox_ph", scored_metrics(scored["cox_ph"], y_train, y_test, horizon, samples, seed)))
    metrics.update(_prefixed("kaplan_meier", scored_metrics(scored["kaplan_meier"], y_train, y_test, horizon, samples,
                                                            seed, ranks=False)))
    naive = scored_metrics(scored["naive_binary"], y_train, y_test, horizon, samples, seed)
    metrics.update(_prefixed("naive_binary", {k: naive[k] for k in NAIVE_KEYS}))
    oracle = oracle_risk(spec, survival, split, horizon)
    if oracle is not None:
        metrics.update(oracle_metrics(y_test, oracle, horizon, metrics["c_index"]))
    groups = {name: m.risk_groups(y_test, s.risk, horizon, part.risk_groups) for name, s in scored.items()
              if name != "kaplan_meier"}
    figure = calibration_figure(figures_dir / "calibration_at_horizon.png", groups, horizon)
    calibrator = fitted.calibrator.to_dict()
    metrics.update({"calibration_slope": float(calibrator["slope"]),
                    "baseline_cumulative_hazard": float(calibrator["cumulative_hazard"])})
    cohort = survival.data.cohort.iloc[split.test]
    sub = survival_subgroups(y_test["event"], y_test["time"], scored["model"].score, scored["model"].risk, horizon,
                             cohort, subgroup_columns(spec, cohort.columns), seed, max(samples // 2, 10))
    metrics.update(sub.metrics)
    report = {"split": {"train": len(split.train), "validation": len(split.validation), "test": len(split.test)},
              "horizon_days": horizon, "calibrator": calibrator, "calibration_groups": groups, "metrics": metrics,
              "subgroups": sub.rows, "largest_subgroup_gaps": sub.gaps,
              "provenance": provenance_facts(spec, len(survival.data.source), len(survival.time),
                                             censored="kept: each patient counts for the time followed")}
    if oracle is not None:  # the card reads a simulated origin from report["test"]["oracle"], as for risk models
        report["test"] = {"oracle": {k.removeprefix("oracle_"): v for k, v in metrics.items()
                                     if k.startswith("oracle_")}}
    return Evaluation(metrics, report, [figure])


def truth_horizon_days(target: str) -> float | None:
    """The horizon of the simulator's true risk for this outcome (``cad_10y``: 10 x 365.25 days), if pmed knows it."""
    outcome = OUTCOMES.get(target)
    return None if outcome is None else outcome.horizon_years * DAYS_PER_YEAR


def oracle_risk(spec: ModelSpec, survival: SurvivalData, split: Split, horizon: float) -> np.ndarray | None:
    """The test patients' true risk at the horizon, or ``None``: not simulated, or a truth at another horizon."""
    column, truth_days = f"true_risk_{spec.target}", truth_horizon_days(spec.target)
    cohort = survival.data.cohort
    if column not in cohort.columns or truth_days is None or abs(truth_days - horizon) > 1.0:
        return None
    risk = cohort[column].to_numpy(dtype=np.float64)[split.test]
    return None if np.isnan(risk).any() else risk


def oracle_metrics(y_test: np.ndarray, oracle: np.ndarray, horizon: float, c_index: float) -> dict[str, float]:
    """The true risk scored like a model: its C, its O/E at the horizon, and the model's C gap to it."""
    oracle_c = m.harrell_c(y_test, oracle)
    return {"oracle_c_index": oracle_c,
            "oracle_observed_expected_at_horizon": m.observed_expected(y_test, oracle, horizon),
            "oracle_mean_risk_at_horizon": float(np.mean(oracle)),
            "c_index_gap_to_oracle": oracle_c - c_index}


def _prefixed(name: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{name}.{k}": v for k, v in metrics.items()}
