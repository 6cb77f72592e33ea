"""The survival evaluation: the model and its baselines on the same test patients, the calibration figure
and the report the card and MLflow take (metrics flat, baselines prefixed: ``cox_ph.c_index``, ...)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from training.fit import FittedModel
from training.spec import ModelSpec
from training.split import Split
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
              "cox_ph": baselines.cox_ph(survival, split, horizon),
              "kaplan_meier": baselines.kaplan_meier(survival, split, horizon),
              "naive_binary": baselines.naive_binary(spec, survival, split, horizon)}
    metrics = {**cohort_metrics(survival, split, horizon),
               **scored_metrics(scored["model"], y_train, y_test, horizon, samples, seed)}
    metrics.update(_prefixed("cox_ph", scored_metrics(scored["cox_ph"], y_train, y_test, horizon, samples, seed)))
    metrics.update(_prefixed("kaplan_meier", scored_metrics(scored["kaplan_meier"], y_train, y_test, horizon, samples,
                                                            seed, ranks=False)))
    naive = scored_metrics(scored["naive_binary"], y_train, y_test, horizon, samples, seed)
    metrics.update(_prefixed("naive_binary", {k: naive[k] for k in NAIVE_KEYS}))
    groups = {name: m.risk_groups(y_test, s.risk, horizon, part.risk_groups) for name, s in scored.items()
              if name != "kaplan_meier"}
    figure = calibration_figure(figures_dir / "calibration_at_horizon.png", groups, horizon)
    calibrator = fitted.calibrator.to_dict()
    metrics.update({"calibration_slope": float(calibrator["slope"]),
                    "baseline_cumulative_hazard": float(calibrator["cumulative_hazard"])})
    report = {"split": {"train": len(split.train), "validation": len(split.validation), "test": len(split.test)},
              "horizon_days": horizon, "calibrator": calibrator, "calibration_groups": groups, "metrics": metrics}
    return Evaluation(metrics, report, [figure])


def _prefixed(name: str, metrics: dict[str, float]) -> dict[str, float]:
    return {f"{name}.{k}": v for k, v in metrics.items()}
