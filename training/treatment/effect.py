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

from kernel.effect_model import Z95, EffectEnsemble, EffectPrediction, LearnerParams, OutcomeKind, s_learner_design
from kernel.progress import Advance

__all__ = ["EffectPrediction", "LearnerParams", "OutcomeKind", "TreatmentEffectModel", "required_coverage"]


@dataclass
class TreatmentEffectModel(EffectEnsemble):
    """The ensemble with what only training does: fit it, and calibrate its interval on known effects."""

    def fit(self, X: np.ndarray, treated: np.ndarray, y: np.ndarray,
            advance: Advance | None = None) -> TreatmentEffectModel:
        """The full-data booster, then ``n_bootstrap`` on resamples; ``advance(1)`` after each (progress)."""
        rng = np.random.default_rng(self.params.seed)
        design = s_learner_design(X, treated)
        self.boosters_ = [self._fit_one(design, y, self.params.seed)]
        for b in range(self.params.n_bootstrap):
            if advance:
                advance(1)
            rows = rng.integers(0, len(y), len(y))
            self.boosters_.append(self._fit_one(design[rows], y[rows], self.params.seed + 1 + b))
        if advance:
            advance(1)
        return self

    def _fit_one(self, design: np.ndarray, y: np.ndarray, seed: int) -> xgb.Booster:
        dtrain = xgb.DMatrix(design, label=y, missing=np.nan)
        return xgb.train(self.params.xgb_params(self.outcome, seed), dtrain, self.params.rounds)

    def calibrate(self, X: np.ndarray, true_effect: np.ndarray, target: float = 0.95,
                  confidence: float = 0.95) -> TreatmentEffectModel:
        """Choose (k, c): the narrowest mean width whose coverage of the known true effects is at least
        ``target`` with ``confidence`` (a one-sided Clopper-Pearson bound on the calibration coverage).

        Calibrating to exactly ``target`` would leave fresh patients below it about half the time; the bound
        asks for the margin that finite calibration data needs (about 0.954 observed for 10,000 patients).
        """
        raw = self.predict(X)
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


