"""Score the survival model and its baselines on the same held-out patients.

Each scored model gives a log-hazard-like score (ranking), the risk at the horizon and its survival curve
on a grid of times; ``scored_metrics`` turns those into the same metric names for all of them, so the
model's row and ``cox_ph.*`` / ``kaplan_meier.*`` / ``naive_binary.*`` compare like for like.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import xgboost as xgb

from kernel.artifacts.survival import BreslowHorizonCalibrator
from training.fit import FittedModel
from training.split import Split
from training.survival import metrics as m
from training.survival.fit import SurvivalData, breslow_at


@dataclass(frozen=True)
class Scored:
    """A model's answers for the test patients: higher ``score`` = higher hazard."""

    score: np.ndarray
    risk: np.ndarray  # P(event by the horizon)
    survival: m.SurvivalAt  # S(t | x) on a grid of times


def booster_scored(fitted: FittedModel, survival: SurvivalData, split: Split) -> Scored:
    """The served model: its margin, its calibrated risk, and S(t) from the validation Breslow baseline."""
    calibrator = fitted.calibrator
    assert isinstance(calibrator, BreslowHorizonCalibrator)
    X = survival.data.X

    def margin(rows: np.ndarray) -> np.ndarray:
        return np.asarray(fitted.booster.predict(xgb.DMatrix(X[rows], missing=np.nan), output_margin=True))

    test, valid_lp = margin(split.test), calibrator.slope * margin(split.validation)
    y_valid = survival.surv(split.validation)

    def curve(times: np.ndarray) -> np.ndarray:
        hazard = np.array([breslow_at(valid_lp, y_valid, float(t)) for t in times])
        return np.exp(-np.outer(np.exp(calibrator.slope * test), hazard))

    return Scored(score=test, risk=calibrator.predict(test), survival=curve)


def _safe(metric: Callable[[], float]) -> float:
    """A censoring-weighted metric that the data cannot support here (a horizon at the very end of the test
    follow-up, say) is NaN, left out of MLflow and reported as such, rather than a crashed run."""
    try:
        return metric()
    except ValueError:
        return float("nan")


def scored_metrics(scored: Scored, y_train: np.ndarray, y_test: np.ndarray, horizon: float, samples: int,
                   seed: int, ranks: bool = True) -> dict[str, float]:
    """The metric set, with bootstrap 95% CIs for C, Uno's C and O/E; ``ranks=False`` (a model without
    covariates) leaves out the ranking metrics."""
    grid = m.brier_grid(y_test, horizon)
    at_horizon = scored.survival(np.array([horizon]))[:, 0]
    out = {"brier_at_horizon": _safe(lambda: m.brier_at(y_train, y_test, at_horizon, horizon)),
           "integrated_brier": _safe(lambda: m.integrated_brier(y_train, y_test, scored.survival, grid)),
           "mean_predicted_risk_at_horizon": float(np.mean(scored.risk)),
           "observed_expected_at_horizon": m.observed_expected(y_test, scored.risk, horizon)}
    out.update(_ci("observed_expected_at_horizon", lambda r: m.observed_expected(y_test[r], scored.risk[r], horizon),
                   len(y_test), samples, seed))
    if not ranks:
        return out
    out["c_index"] = m.harrell_c(y_test, scored.score)
    out["uno_c_index"] = _safe(lambda: m.uno_c(y_train, y_test, scored.score, horizon))
    out["auroc_at_horizon"] = _safe(lambda: m.auroc_at(y_train, y_test, scored.risk, horizon))
    out.update(_ci("c_index", lambda r: m.harrell_c(y_test[r], scored.score[r]), len(y_test), samples, seed))
    out.update(_ci("uno_c_index", lambda r: m.uno_c(y_train, y_test[r], scored.score[r], horizon), len(y_test),
                   samples, seed))
    return out


def _ci(name: str, statistic: Callable[[np.ndarray], float], n: int, samples: int, seed: int) -> dict[str, float]:
    low, high = m.bootstrap_ci(statistic, n, samples, seed)
    return {f"{name}_ci_low": low, f"{name}_ci_high": high}


def cohort_metrics(survival: SurvivalData, split: Split, horizon: float) -> dict[str, float]:
    """Counts behind every metric: test patients, their events (any time and by the horizon), KM risk."""
    y_test = survival.surv(split.test)
    by_horizon = y_test["event"] & (y_test["time"] <= horizon)
    return {"n_test": float(len(split.test)), "test_events": float(y_test["event"].sum()),
            "test_events_by_horizon": float(by_horizon.sum()),
            "test_censored_before_horizon": float((~y_test["event"] & (y_test["time"] < horizon)).sum()),
            "observed_risk_at_horizon": m.km_risk(y_test, horizon)}
