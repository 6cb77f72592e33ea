"""What the survival gates judge beyond the held-out metrics (docs/evaluation.md):

- the model's Harrell C minus the linear Cox PH baseline's on the same test patients, with a paired bootstrap
  95% CI (``vs_cox_ph.c_index_diff``, ``_ci_low``, ``_ci_high``): the vs_linear_baseline gate;
- repeated stratified k-fold cross-validation (``training.cv``), stratified by the event flag, when the spec
  asks for it or the test split has too few events: each fold refits the booster (early stopping and the
  horizon calibrator inside its training part) and the Cox baseline;
- the champion scored through its bundle on the new test patients (the vs_champion gate).
"""

from __future__ import annotations

import numpy as np
from mlflow import MlflowClient

from kernel.model_registry import version_for_alias
from training.champion import compare_with_champion
from training.cv import CVPlan, Progress, cv_splits, run_folds, summarize
from training.data import KEY
from training.errors import DataError
from training.fit import FittedModel
from training.gates import ChampionComparison
from training.run import CHAMPION
from training.spec import ModelSpec
from training.split import Split
from training.survival import baselines
from training.survival import metrics as m
from training.survival.fit import SurvivalData, fit_survival
from training.survival.parts import SurvivalPart
from training.survival.scoring import booster_scored, scored_metrics

FOLD_KEYS = ("c_index", "uno_c_index", "auroc_at_horizon", "brier_at_horizon", "integrated_brier",
             "observed_expected_at_horizon")


def paired_c_diff(y: np.ndarray, score: np.ndarray, other: np.ndarray, samples: int, seed: int
                  ) -> tuple[float, float, float]:
    """Harrell C of ``score`` minus that of ``other`` on the same patients, with a paired bootstrap 95% CI."""
    point = m.harrell_c(y, score) - m.harrell_c(y, other)
    low, high = m.bootstrap_ci(lambda r: m.harrell_c(y[r], score[r]) - m.harrell_c(y[r], other[r]), len(y),
                               samples, seed)
    return point, low, high


def cox_comparison(spec: ModelSpec, part: SurvivalPart, survival: SurvivalData, split: Split,
                   fitted: FittedModel) -> dict[str, float]:
    """``vs_cox_ph.c_index_diff`` with its paired CI on the test patients."""
    y = survival.surv(split.test)
    model = booster_scored(fitted, survival, split).score
    cox = baselines.cox_ph(survival, split, part.horizon_days, spec).score
    diff, low, high = paired_c_diff(y, model, cox, spec.bootstrap_samples, spec.seed)
    return {"vs_cox_ph.c_index_diff": diff, "vs_cox_ph.c_index_diff_ci_low": low,
            "vs_cox_ph.c_index_diff_ci_high": high}


def fold_metrics(spec: ModelSpec, part: SurvivalPart, survival: SurvivalData, split: Split) -> dict[str, float]:
    """One fold: the refitted model's and Cox PH's figures on its held-out patients (no bootstrap inside)."""
    reference, y = survival.surv(np.arange(len(survival.time))), survival.surv(split.test)
    try:
        model = booster_scored(fit_survival(spec, part, survival, split), survival, split)
    except DataError:  # e.g. a fold's validation patients give the margin no positive Cox slope: not scored,
        # counted out of cv.folds_scored rather than ending the run
        return dict.fromkeys((*FOLD_KEYS, "cox_ph.c_index", "vs_cox_ph.c_index_diff"), float("nan"))
    cox = baselines.cox_ph(survival, split, part.horizon_days, spec)
    out = {k: v for k, v in scored_metrics(model, reference, y, part.horizon_days, 0, spec.seed).items()
           if k in FOLD_KEYS}
    out["cox_ph.c_index"] = m.harrell_c(y, cox.score)
    out["vs_cox_ph.c_index_diff"] = out["c_index"] - out["cox_ph.c_index"]
    return out


def cross_validate(spec: ModelSpec, part: SurvivalPart, survival: SurvivalData, plan: CVPlan,
                   progress: Progress) -> dict[str, float]:
    """``cv.*`` metrics over every fold, the folds stratified by the event flag."""
    splits = cv_splits(survival.data.y, plan, spec.split, spec.seed)
    progress(f"{plan.describe()}: refitting the model and Cox PH on each of {len(splits)} folds")
    folds = run_folds(splits, lambda split: fold_metrics(spec, part, survival, split), progress, plan)
    return summarize(folds, plan, len(survival.time), int(np.sum(survival.data.y)))


def survival_champion(client: MlflowClient, spec: ModelSpec, survival: SurvivalData, split: Split,
                      fitted: FittedModel, metrics: dict[str, float]) -> ChampionComparison | None:
    """The candidate against the champion (scored through its bundle: its risk at its horizon ranks as its
    hazard does) on the same test patients, and against the best version ever promoted (its run's ``c_index``)."""
    champion = version_for_alias(client, spec.name, CHAMPION)
    table = survival.data.source
    if champion is None or KEY not in table.columns:
        return None
    y = survival.surv(split.test)

    def paired(candidate: np.ndarray, other: np.ndarray) -> tuple[float, float, float]:
        return paired_c_diff(y, candidate, other, spec.bootstrap_samples, spec.seed)

    candidate = booster_scored(fitted, survival, split).score
    return compare_with_champion(client, spec.name, str(champion.version), table,
                                 survival.data.keys.iloc[split.test], candidate, metrics["c_index"], paired,
                                 "Harrell C", "c_index")
