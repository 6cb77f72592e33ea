"""Read a survival table (a user's, or pmed's feature folder), fit a ``survival:cox`` booster and map its
margin to the risk at the horizon.

Censored patients are kept: the Cox partial likelihood uses every patient's follow-up (XGBoost reads a
censored patient as a negative time). The risk at the horizon needs a baseline cumulative hazard H0,
estimated by Breslow on the validation patients, which the trees never saw, so the level (and, with
``recalibration: slope``, the spread: a Cox model on the margin) is judged where overfitting shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.util import Surv

from kernel.artifacts.survival import BreslowHorizonCalibrator
from kernel.progress import Advance
from training.data import FEATURES_FILE, OUTCOMES_FILE, load_table, load_training_data
from training.errors import DataError
from training.fit import FittedModel, TrainingData, _Rounds, booster_params
from training.spec import ModelSpec
from training.split import Split, split_cohort
from training.survival.parts import SurvivalPart
from training.task import Progress


@dataclass(frozen=True)
class SurvivalData:
    """Every patient of the table (censored ones included), with follow-up days and the event flag."""

    data: TrainingData  # y is the event flag (1 = event, 0 = censored)
    time: np.ndarray

    def surv(self, rows: np.ndarray) -> np.ndarray:
        """The structured (event, time) array ``sksurv`` takes, for the given row positions."""
        return Surv.from_arrays(self.data.y[rows].astype(bool), self.time[rows])


def load_survival(path: Path, spec: ModelSpec, part: SurvivalPart, *, quarantine_dir: Path | None = None,
                  progress: Progress | None = None) -> SurvivalData:
    """The table through the shared reader (ids, features, a 0/1 event column), then its follow-up times; rows
    the spec's ``on_invalid: quarantine`` sets aside go to ``quarantine_dir`` (the run's)."""
    data = load_table(path, spec.model_copy(update={"target": part.event_column}), "outcome",
                      quarantine_dir=quarantine_dir, progress=progress)
    if len(data.y) != len(data.source):
        raise DataError(f"{path}: column {part.event_column}: every patient needs an event flag (1 or 0); "
                        "a censored patient is 0, not empty")
    if part.time_column not in data.cohort.columns:
        raise DataError(f"{path}: column {part.time_column} (days to event or censoring) is missing")
    time = pd.to_numeric(data.cohort[part.time_column], errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(time > 0):
        raise DataError(f"{path}: column {part.time_column}: follow-up must be a number of days > 0; "
                        f"{int(np.sum(~(time > 0)))} row(s) break it")
    return SurvivalData(data, time)


def load_survival_folder(folder: Path, spec: ModelSpec, part: SurvivalPart) -> SurvivalData:
    """pmed's features.parquet + outcomes.parquet joined by patient key (the shared reader), keeping the
    patients at risk: those with an event flag and a follow-up time (NA in both = prevalent at index, or
    follow-up unknown). The cohort columns (subgroups, true risks on simulated data) ride along."""
    outcomes = folder / OUTCOMES_FILE
    if outcomes.is_file():
        frame = pd.read_parquet(outcomes, columns=None)
        missing = [c for c in (part.time_column, part.event_column) if c not in frame.columns]
        if missing:
            raise DataError(f"{outcomes}: column(s) {', '.join(missing)} named by survival: are missing (rebuild the "
                            "features with `pmed features build` to get the time-to-event columns)")
        both = frame[part.event_column].notna() == frame[part.time_column].notna()
        if not both.all():
            raise DataError(f"{outcomes}: columns {part.time_column}, {part.event_column}: a patient at risk needs "
                            f"both (both empty = not at risk); {int((~both).sum())} row(s) have only one")
    data = load_training_data(folder, spec.model_copy(update={"target": part.event_column}))
    time = pd.to_numeric(data.cohort[part.time_column], errors="coerce").to_numpy(dtype=np.float64)
    if not np.all(time > 0):
        raise DataError(f"{outcomes}: column {part.time_column}: follow-up must be a number of days > 0; "
                        f"{int(np.sum(~(time > 0)))} row(s) break it")
    return SurvivalData(data, time)


def survival_sources(folder: Path) -> list[Path]:
    return [folder / FEATURES_FILE, folder / OUTCOMES_FILE]


def check_follow_up(survival: SurvivalData, split: Split, horizon_days: float) -> None:
    """Refuse a horizon that some part of the split never reaches: no one at risk there, nothing to estimate."""
    for part_name in ("train", "validation", "test"):
        rows = getattr(split, part_name)
        if not np.any(survival.time[rows] >= horizon_days):
            longest = float(survival.time[rows].max()) if len(rows) else 0.0
            raise DataError(f"horizon_days {horizon_days:g} lies beyond the follow-up of the {part_name} patients "
                            f"(longest {longest:g} days): no patient is at risk at the horizon; choose a shorter one")


def cox_labels(survival: SurvivalData, rows: np.ndarray) -> np.ndarray:
    """XGBoost's ``survival:cox`` label: the time, negative for a censored patient."""
    return np.where(survival.data.y[rows] == 1, survival.time[rows], -survival.time[rows])


def fit_survival(spec: ModelSpec, part: SurvivalPart, survival: SurvivalData, split: Split,
                 advance: Advance | None = None) -> FittedModel:
    """Boost on the training patients with early stopping on validation (Cox negative log-likelihood), then
    fit the horizon calibrator on validation; the booster is cut to its best iteration."""
    X = survival.data.X
    params = {**booster_params(spec), "objective": "survival:cox", "eval_metric": "cox-nloglik"}
    train = xgb.DMatrix(X[split.train], label=cox_labels(survival, split.train), missing=np.nan)
    valid = xgb.DMatrix(X[split.validation], label=cox_labels(survival, split.validation), missing=np.nan)
    callbacks = [_Rounds(advance)] if advance else None
    booster = xgb.train(params, train, num_boost_round=spec.xgboost.n_estimators, evals=[(valid, "validation")],
                        early_stopping_rounds=spec.xgboost.early_stopping_rounds, verbose_eval=False,
                        callbacks=callbacks)
    best = int(booster.best_iteration)
    booster = booster[: best + 1]
    margin = booster.predict(xgb.DMatrix(X[split.validation], missing=np.nan), output_margin=True)
    calibrator = horizon_calibrator(margin, survival.surv(split.validation), part)
    return FittedModel(booster=booster, calibrator=calibrator, best_iteration=best)


def horizon_calibrator(margin: np.ndarray, y: np.ndarray, part: SurvivalPart) -> BreslowHorizonCalibrator:
    """Breslow H0 at the horizon on these patients, with the margin's Cox slope (``slope``) or with slope 1."""
    slope = 1.0
    if part.recalibration == "slope":
        slope = float(CoxPHSurvivalAnalysis().fit(margin.reshape(-1, 1), y).coef_[0])
        if not slope > 0:
            raise DataError(f"the validation patients give the booster's margin a Cox slope of {slope:.3g} (it "
                            "does not rank them): use recalibration: baseline or more data")
    hazard = breslow_at(slope * margin, y, part.horizon_days)
    return BreslowHorizonCalibrator(part.horizon_days, hazard, slope)


def breslow_at(linear_predictor: np.ndarray, y: np.ndarray, t: float) -> float:
    """Breslow's baseline cumulative hazard at ``t``: the sum over event times s <= t of
    (events at s) / (sum of exp(linear predictor) over patients still at risk at s)."""
    time, event = y["time"], y["event"]
    weight = np.exp(linear_predictor - linear_predictor.max())  # shifted for overflow, undone below
    times = np.unique(time[event & (time <= t)])
    at_risk = np.array([weight[time >= s].sum() for s in times])
    deaths = np.array([np.sum(event & (time == s)) for s in times])
    return float(np.sum(deaths / at_risk) / np.exp(linear_predictor.max())) if len(times) else 0.0


def split_survival(spec: ModelSpec, survival: SurvivalData, horizon_days: float) -> Split:
    """The spec's split (by patient, site or time), refused when a part never reaches the horizon."""
    split = split_cohort(survival.data.keys, survival.data.cohort, spec.split, spec.seed)
    check_follow_up(survival, split, horizon_days)
    return split
