"""Cross-validated figures of a risk model (``training.cv``): each fold refits XGBoost (early stopping and the
spec's calibrator inside the fold's training part) and the logistic regression baseline, and scores both on
the fold's held-out patients. The served model is still the one fitted on the spec's split."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from training.card import Section, Table
from training.cv import CVPlan, Progress, cv_splits, run_folds, summarize
from training.evaluate import calibration_intercept, calibration_slope
from training.fit import TrainingData, fit_model, linear_design
from training.risk.baselines import logistic_baseline
from training.spec import ModelSpec
from training.split import Split


def fold_metrics(spec: ModelSpec, data: TrainingData, split: Split) -> dict[str, float]:
    """One fold: the model's and the logistic regression's figures on its held-out patients."""
    y = data.y[split.test]
    risk = fit_model(spec, data, split).risk(data.X[split.test])
    design = linear_design(spec, data.X)  # categoricals one-hot for the linear model
    linear = logistic_baseline(spec.seed).fit(design[split.train], data.y[split.train])
    linear_risk = linear.predict_proba(design[split.test])[:, 1]
    prevalence = float(y.mean())
    brier = float(brier_score_loss(y, risk))
    auroc, linear_auroc = float(roc_auc_score(y, risk)), float(roc_auc_score(y, linear_risk))
    return {"auroc": auroc, "auprc": float(average_precision_score(y, risk)), "brier": brier,
            "scaled_brier": 1.0 - brier / max(prevalence * (1 - prevalence), 1e-12),
            "calibration_slope": calibration_slope(y, risk), "calibration_intercept": calibration_intercept(y, risk),
            "logistic_regression.auroc": linear_auroc, "vs_logistic_regression.auroc_diff": auroc - linear_auroc}


def cross_validate(spec: ModelSpec, data: TrainingData, plan: CVPlan, progress: Progress) -> dict[str, float]:
    """``cv.*`` metrics over every fold (``training.cv.summarize``), the folds stratified by the outcome."""
    splits = cv_splits(data.y, plan, spec.split, spec.seed)
    progress(f"{plan.describe()}: refitting the model and logistic regression on each of {len(splits)} folds")
    folds = run_folds(splits, lambda split: fold_metrics(spec, data, split), progress, plan)
    return summarize(folds, plan, len(data.y), int(np.sum(data.y)))


def cv_sections(report: dict[str, Any]) -> list[Section]:
    """The card's cross-validation section (when the run was cross-validated): who chose it and why, and each
    metric's mean with its corrected 95% CI; the gates judged these figures."""
    cv = report.get("cross_validation")
    if not cv:
        return []
    rows = [[name, f"{v['mean']:.3f}", f"{v['ci_low']:.3f}-{v['ci_high']:.3f}"] for name, v in cv["metrics"].items()]
    return [("Cross-validation", [
        (f"{cv['folds']}-fold x {cv['repeats']} repeated stratified cross-validation ({cv['reason']}), over "
        f"{int(cv['n'])} patients with {int(cv['events'])} events; each fold refits the model (early stopping and "
        "calibration inside its training part) and its baselines. The promotion gates judged these figures; the "
        "served model is the one fitted on the split above. CIs: corrected resampled t (Nadeau & Bengio)."),
        Table(["Metric (cv.*)", "Mean over folds", "95% CI"], rows)])]
