"""A survival model's artifact and calibrator: P(event by ``horizon_days``) from a Cox booster's log hazard ratio.

The booster (``survival:cox``) predicts a margin m, the log hazard ratio. Serving needs an absolute risk at the
horizon, 1 - S(h | x) = 1 - exp(-H0(h) * exp(slope * m)), with H0 a Breslow baseline cumulative hazard. Training
estimates ``slope`` and H0(h) on validation patients (``training.survival.fit``), censored ones included, and
stores the two numbers here, so serving applies the same arithmetic without any survival library. The
calibrator is monotone in the margin, so TreeSHAP stays exact on the log-hazard scale and the risk points
(``serving.risk.points``) share out the risk difference along it.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import numpy as np

from kernel.artifact import Artifact
from kernel.calibration import Calibrator, register_calibrator

METHOD = "breslow_horizon"
DAYS_PER_YEAR = 365.25
SCALE = "log hazard ratio (Cox model margin; risk at the horizon = 1 - exp(-H0(horizon) * exp(slope * margin)))"


class SurvivalArtifact(Artifact):
    """What a survival version says about itself; ``horizon_years`` is ``horizon_days / 365.25`` for
    the routes that state a horizon in years."""

    TASK: ClassVar[str] = "survival"
    task: Literal["survival"] = "survival"
    horizon_days: float
    time_column: str
    event_column: str
    explanation_scale: str = SCALE


class BreslowHorizonCalibrator:
    """risk = 1 - exp(-cumulative_hazard * exp(slope * margin)), at ``horizon_days``."""

    method = METHOD

    def __init__(self, horizon_days: float, cumulative_hazard: float, slope: float = 1.0) -> None:
        if not (horizon_days > 0 and cumulative_hazard >= 0 and np.isfinite(slope) and slope > 0):
            raise ValueError("breslow_horizon needs horizon_days > 0, cumulative_hazard >= 0 and a slope > 0")
        self.horizon_days, self.cumulative_hazard, self.slope = horizon_days, cumulative_hazard, slope

    def predict(self, margin: np.ndarray) -> np.ndarray:
        """Risk at the horizon; the exponent is clipped so an extreme margin gives 0 or 1, never NaN."""
        hazard = self.cumulative_hazard * np.exp(np.clip(self.slope * np.asarray(margin, dtype=np.float64), -50, 50))
        return -np.expm1(-hazard)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "horizon_days": self.horizon_days,
                "cumulative_hazard": self.cumulative_hazard, "slope": self.slope}


def _read(payload: dict[str, Any]) -> Calibrator:
    return BreslowHorizonCalibrator(float(payload["horizon_days"]), float(payload["cumulative_hazard"]),
                                    float(payload["slope"]))


register_calibrator(METHOD, _read)
