"""Everything a clinical reviewer asks of one trained model, computed on the held-out test patients.

Returns plain data (metrics for MLflow, a JSON-able report, figure files); the MLflow side logs it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from kernel.formulas.pce import pooled_cohort_risk
from training.card import provenance_facts
from training.data import KEY
from training.evaluate import evaluate_risk, net_benefit, paired_bootstrap_diff
from training.fit import FittedModel, TrainingData, linear_design
from training.importance import mean_abs_shap
from training.plots import calibration_plot, decision_curve
from training.risk.baselines import logistic_baseline
from training.spec import ModelSpec
from training.split import Split
from training.subgroups import risk_subgroups, subgroup_columns
from training.task import Evaluation

PCE_INPUTS = ["age_years", "sex_male", "total_cholesterol_mg_dl", "hdl_mg_dl", "sbp_mm_hg",
              "antihypertensive_rx", "current_smoker", "t2d_dx"]


def evaluate_model(spec: ModelSpec, data: TrainingData, split: Split, fitted: FittedModel,
                   figures_dir: Path) -> Evaluation:
    y = data.y[split.test]
    risk = fitted.risk(data.X[split.test])
    n_boot = spec.bootstrap_samples
    metrics = evaluate_risk(y, risk, spec.seed, n_boot)
    metrics["best_iteration"] = float(fitted.best_iteration)
    risks, comparisons = {"model": risk}, {"model": metrics}
    for name, baseline_risk in _baselines(spec, data, split).items():
        scored = ~np.isnan(baseline_risk)
        comparisons[name] = evaluate_risk(y[scored], baseline_risk[scored], spec.seed, n_boot, slope_ci=False)
        risks[name] = baseline_risk
        if not scored.all():  # like for like: the model on exactly the patients this baseline could score
            comparisons[f"model_on_{name}_patients"] = evaluate_risk(y[scored], risk[scored], spec.seed, n_boot,
                                                                     slope_ci=False)
    linear = risks.get("logistic_regression")
    if linear is None:  # the vs_linear_baseline gate needs it even when the spec does not report it
        design = linear_design(spec, data.X)  # categoricals one-hot for the linear model
        linear = logistic_baseline(spec.seed).fit(design[split.train], data.y[split.train]).predict_proba(
            design[split.test])[:, 1]
    metrics.update(linear_comparison(y, risk, linear, spec.seed, n_boot))
    truth = f"true_risk_{spec.target}"
    if truth in data.cohort.columns:
        risks["oracle"] = data.cohort[truth].to_numpy()[split.test]
        comparisons["oracle"] = evaluate_risk(y, risks["oracle"], spec.seed, n_boot, slope_ci=False)
    for name, result in comparisons.items():
        if name != "model":
            metrics.update({f"{name}.{k}": v for k, v in result.items() if k in ("auroc", "auprc", "brier",
                                                                                  "calibration_slope")})
    if "oracle" in comparisons:
        metrics["oracle_auroc"] = comparisons["oracle"]["auroc"]
        metrics["auroc_gap_to_oracle"] = metrics["oracle_auroc"] - metrics["auroc"]
    test_cohort = data.cohort.iloc[split.test]
    groups = risk_subgroups(y, risk, test_cohort, subgroup_columns(spec, test_cohort.columns), spec.decision_thresholds,
                            spec.seed, max(n_boot // 2, 10))
    metrics.update(groups.metrics)
    subgroups, gaps = groups.rows, groups.gaps
    thresholds = np.round(np.arange(spec.decision_thresholds[0], spec.decision_thresholds[1] + 1e-9, 0.01), 4)
    curves = {name: net_benefit(y[~np.isnan(r)], r[~np.isnan(r)], thresholds) for name, r in risks.items()}
    complete = {name: r for name, r in risks.items() if not np.isnan(r).any()}
    figures = [calibration_plot(figures_dir / "calibration.png", y, complete),
               decision_curve(figures_dir / "decision_curve.png", curves)]
    report = {"test": comparisons, "subgroups": subgroups, "largest_subgroup_gaps": gaps,
              "decision_curve": curves, "importance": mean_abs_shap(fitted.booster, data.X[split.test],
                                                                    list(spec.features)),
              "split": {"train": len(split.train), "validation": len(split.validation), "test": len(split.test)},
              "provenance": provenance_facts(spec, rows_read=len(data.source), rows_used=len(data.y))}
    return Evaluation(metrics, report, figures)


def linear_comparison(y: np.ndarray, risk: np.ndarray, linear: np.ndarray, seed: int,
                      n_boot: int) -> dict[str, float]:
    """The model's AUROC minus logistic regression's on the same test patients, with a paired bootstrap 95% CI
    (``vs_logistic_regression.auroc_diff``, ``_ci_low``, ``_ci_high``): what the vs_linear_baseline gate judges."""
    diff, low, high = paired_bootstrap_diff(y, risk, linear, roc_auc_score, seed, n_boot)
    name = "vs_logistic_regression.auroc_diff"
    return {name: diff, f"{name}_ci_low": low, f"{name}_ci_high": high}


def _baselines(spec: ModelSpec, data: TrainingData, split: Split) -> dict[str, np.ndarray]:
    """Baseline risks on the test patients; NaN where a baseline cannot score a patient."""
    out = {}
    if "logistic_regression" in spec.baselines:
        design = linear_design(spec, data.X)  # categoricals one-hot for the linear model
        model = logistic_baseline(spec.seed).fit(design[split.train], data.y[split.train])
        out["logistic_regression"] = model.predict_proba(design[split.test])[:, 1]
    if "pooled_cohort_equations" in spec.baselines and set(PCE_INPUTS) <= set(data.source.columns):
        # PCE inputs come from the whole table, so the model need not carry them (e.g. total cholesterol)
        test = data.source.set_index(KEY).loc[data.keys.iloc[split.test].to_numpy()]
        col = {name: test[name].astype("float64").to_numpy() for name in PCE_INPUTS}
        black = (data.cohort["ancestry"].to_numpy()[split.test] == "AFR") if "ancestry" in data.cohort else \
            np.zeros(len(split.test), dtype=bool)
        out["pooled_cohort_equations"] = pooled_cohort_risk(
            col["age_years"], col["sex_male"], black, col["total_cholesterol_mg_dl"], col["hdl_mg_dl"],
            col["sbp_mm_hg"], col["antihypertensive_rx"], col["current_smoker"], col["t2d_dx"])
    return out
