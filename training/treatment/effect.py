"""Treatment response with XGBoost: an S-learner and a bootstrap ensemble of it for 95% intervals.

Chosen by measurement (bench/treatment_bench.py, docs/treatment.md): on the simulated antiplatelet trial
the S-learner (treatment as one more feature) had the lowest PEHE of the S/T/X/DR-learners, because the
effect is small beside the outcome noise and the S-learner borrows strength across arms.

Intervals come from boosters fitted ONCE on bootstrap resamples, so serving scores them without refitting.
A bootstrap sees sampling variance but not the shrinkage bias of boosting, so its raw spread undercovers;
the half-width is z * sqrt((k sd)^2 + c^2), with k and c chosen on a separate calibration trial whose true
effects are known (``calibrate``), so that its coverage there is at least 95% with 95% confidence. That
calibration exists only where truth does (simulation); without it k = 1, c = 0 and the interval is the
bootstrap's alone. Everything is saved as UBJ boosters + JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xgboost as xgb
from sksurv.util import Surv

from kernel.effect_model import Z95, EffectEnsemble, EffectPrediction, LearnerParams, OutcomeKind, s_learner_design
from kernel.progress import Advance
from training.survival.fit import breslow_at

__all__ = ["EffectPrediction", "LearnerParams", "OutcomeKind", "TreatmentEffectModel", "required_coverage"]


@dataclass
class TreatmentEffectModel(EffectEnsemble):
    """The ensemble with what only training does: fit it, and calibrate its interval on known effects."""

    def fit(self, X: np.ndarray, treated: np.ndarray, y: np.ndarray,
            advance: Advance | None = None, event: np.ndarray | None = None) -> TreatmentEffectModel:
        """The full-data booster, then ``n_bootstrap`` on resamples; ``advance(1)`` after each (progress).

        ``treated`` is each patient's arm index (0 = reference, 1 .. n_arms - 1 the compared arms). For a
        time-to-event outcome ``y`` is the follow-up in days and ``event`` 1 where it ended in the event (0 =
        censored then); each booster keeps its own Breslow baseline hazard at ``horizon_days``.
        """
        if self.outcome == "time_to_event" and (event is None or self.horizon_days is None):
            raise ValueError("a time-to-event effect model needs the event indicator and horizon_days")
        rng = np.random.default_rng(self.params.seed)
        design = s_learner_design(X, treated, self.n_arms)
        self.boosters_, self.horizon_hazards = [], []
        self._fit_one(design, y, event, self.params.seed)
        for b in range(self.params.n_bootstrap):
            if advance:
                advance(1)
            rows = rng.integers(0, len(y), len(y))
            self._fit_one(design[rows], y[rows], None if event is None else event[rows], self.params.seed + 1 + b)
        if advance:
            advance(1)
        return self

    def _fit_one(self, design: np.ndarray, y: np.ndarray, event: np.ndarray | None, seed: int) -> None:
        label = y if event is None else np.where(event == 1, y, -y)  # XGBoost's Cox label: negative = censored
        dtrain = xgb.DMatrix(design, label=label, missing=np.nan)
        booster = xgb.train(self.params.xgb_params(self.outcome, seed), dtrain, self.params.rounds)
        self.boosters_.append(booster)
        if event is not None and self.horizon_days is not None:
            margin = booster.predict(dtrain, output_margin=True).astype(np.float64)
            self.horizon_hazards.append(breslow_at(margin, Surv.from_arrays(event == 1, y), self.horizon_days))

    def calibrate(self, X: np.ndarray, true_effect: np.ndarray, target: float = 0.95,
                  confidence: float = 0.95, arm: int = 1) -> TreatmentEffectModel:
        """Choose (k, c): the narrowest mean width whose coverage of the known true effects is at least
        ``target`` with ``confidence`` (a one-sided Clopper-Pearson bound on the calibration coverage).

        Calibrating to exactly ``target`` would leave fresh patients below it about half the time; the bound
        asks for the margin that finite calibration data needs (about 0.954 observed for 10,000 patients).
        """
        raw = self.predict(X, arm)
        need = required_coverage(len(true_effect), target, confidence)
        best = (np.inf, 1.0, 0.0)
        scale = float(np.std(true_effect)) or 1.0
        for k in np.linspace(1.0, 4.0, 13):
            for c in scale * np.linspace(0.0, 1.5, 31):
                half = Z95 * np.sqrt((k * raw.bootstrap_sd) ** 2 + c ** 2)
                if np.mean(np.abs(true_effect - raw.effect) <= half) >= need and half.mean() < best[0]:
                    best = (float(half.mean()), float(k), float(c))
                    break  # larger c only widens
        if not np.isfinite(best[0]):
            raise ValueError(f"no interval in the search grid reaches {need:.3f} coverage on the calibration trial")
        self.interval_k, self.interval_c = best[1], best[2]
        return self

def required_coverage(n: int, target: float, confidence: float) -> float:
    """The smallest observed coverage on ``n`` patients whose one-sided Clopper-Pearson lower bound at
    ``confidence`` reaches ``target``."""
    from scipy.stats import beta

    for covered in range(int(np.floor(target * n)), n + 1):
        if covered > 0 and beta.ppf(1 - confidence, covered, n - covered + 1) >= target:
            return covered / n
    return 1.0


