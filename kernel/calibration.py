"""Probability calibrators that map the booster's margin (log-odds) to a calibrated risk.

They live here, not in training/, because serving applies exactly the same arithmetic: a calibrator is
stored as JSON parameters (never pickled) and rebuilt on both sides from ``to_dict``/``calibrator_from_dict``.

- ``sigmoid`` (Platt scaling on the margin): risk = 1 / (1 + exp(-(a * margin + b))). Being linear in the
  margin, it keeps TreeSHAP additive: the contributions times ``a`` add up to logit(risk) - (a * base + b).
- ``isotonic``: a monotone step function fitted on held-out data, stored as its knots and applied by
  linear interpolation (scikit-learn's ``IsotonicRegression(out_of_bounds="clip")`` semantics).
- ``dose_interval`` (dose regression): no recalibration. The margin is the booster's prediction on the
  fitted scale (``sqrt``: square root of mg/week, squared back; ``none``: mg/week), and a split-conformal
  prediction interval: ``log_halfwidth`` is the ``coverage`` quantile of |log(dose) - log(predicted)| on
  validation patients, so the interval [pred * exp(-q), pred * exp(q)] widens with the dose.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any, Literal, Protocol

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression

CalibrationMethod = Literal["sigmoid", "isotonic"]


class Calibrator(Protocol):
    method: str

    def predict(self, margin: np.ndarray) -> np.ndarray: ...

    def to_dict(self) -> dict[str, Any]: ...


class SigmoidCalibrator:
    method = "sigmoid"

    def __init__(self, a: float = 1.0, b: float = 0.0) -> None:
        self.a = a
        self.b = b

    def fit(self, margin: np.ndarray, y: np.ndarray) -> SigmoidCalibrator:
        model = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y)
        self.a, self.b = float(model.coef_[0, 0]), float(model.intercept_[0])
        return self

    def calibrated_logit(self, margin: np.ndarray) -> np.ndarray:
        return self.a * margin + self.b

    def predict(self, margin: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.calibrated_logit(margin)))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "a": self.a, "b": self.b}


class IsotonicCalibrator:
    method = "isotonic"

    def __init__(self, knots_x: list[float] | None = None, knots_y: list[float] | None = None) -> None:
        self.knots_x = np.asarray(knots_x or [0.0], dtype=float)
        self.knots_y = np.asarray(knots_y or [0.5], dtype=float)

    def fit(self, margin: np.ndarray, y: np.ndarray) -> IsotonicCalibrator:
        model = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(margin, y)
        self.knots_x, self.knots_y = model.X_thresholds_.astype(float), model.y_thresholds_.astype(float)
        return self

    def predict(self, margin: np.ndarray) -> np.ndarray:
        return np.interp(margin, self.knots_x, self.knots_y)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "knots_x": self.knots_x.tolist(), "knots_y": self.knots_y.tolist()}


class DoseIntervalCalibrator:
    method = "dose_interval"

    def __init__(self, transform: str = "none", coverage: float = 0.9, log_halfwidth: float = 0.0) -> None:
        if transform not in ("none", "sqrt") or not 0 < coverage < 1 or not log_halfwidth >= 0:
            raise ValueError("dose_interval needs transform none|sqrt, 0 < coverage < 1, log_halfwidth >= 0")
        self.transform, self.coverage, self.log_halfwidth = transform, coverage, log_halfwidth

    def fit(self, margin: np.ndarray, dose: np.ndarray) -> DoseIntervalCalibrator:
        """Split-conformal: the finite-sample-corrected quantile of validation log-ratio residuals."""
        scores = np.sort(np.abs(np.log(dose) - np.log(self.predict(margin))))
        rank = min(int(np.ceil((len(scores) + 1) * self.coverage)), len(scores)) - 1
        self.log_halfwidth = float(scores[rank])
        return self

    def predict(self, margin: np.ndarray) -> np.ndarray:
        """Predicted dose (mg/week), floored at a small positive dose so its log exists."""
        dose = np.square(np.maximum(margin, 0.0)) if self.transform == "sqrt" else margin
        return np.maximum(dose, 0.1)

    def interval(self, margin: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dose = self.predict(margin)
        return dose * np.exp(-self.log_halfwidth), dose * np.exp(self.log_halfwidth)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "transform": self.transform, "coverage": self.coverage,
                "log_halfwidth": self.log_halfwidth}


def fit_calibrator(method: CalibrationMethod, margin: np.ndarray, y: np.ndarray) -> Calibrator:
    """Fit the named calibrator on held-out margins and outcomes."""
    if method == "sigmoid":
        return SigmoidCalibrator().fit(margin, y)
    return IsotonicCalibrator().fit(margin, y)


CalibratorReader = Callable[[dict[str, Any]], Calibrator]
_READERS: dict[str, CalibratorReader] = {}


def register_calibrator(method: str, reader: CalibratorReader) -> None:
    """Let ``calibrator_from_dict`` rebuild calibrators stored under ``method``.

    A kind of model whose output needs its own mapping from the margin (a survival model's risk at the
    horizon, say) registers it from its artifact module (``kernel/artifacts/<kind>.py``), so adding the kind
    edits nothing here. ``reader`` raises KeyError, TypeError or ValueError on malformed parameters.
    """
    if method in _READERS:
        raise ValueError(f"calibration method {method!r} is registered twice")
    _READERS[method] = reader


def calibrator_from_dict(payload: dict[str, Any]) -> Calibrator:
    """Rebuild a calibrator from its stored parameters, rejecting anything malformed or unregistered."""
    reader = _READERS.get(str(payload.get("method")))
    if reader is None:
        raise ValueError(f"unknown calibration method {payload.get('method')!r}")
    try:
        return reader(payload)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"calibrator parameters are malformed: {exc}") from exc


def _isotonic(payload: dict[str, Any]) -> Calibrator:
    x, y = list(map(float, payload["knots_x"])), list(map(float, payload["knots_y"]))
    if len(x) != len(y) or not x or any(b < a for a, b in pairwise(x)):
        raise ValueError("isotonic knots must be non-empty, paired and sorted")
    return IsotonicCalibrator(x, y)


register_calibrator("sigmoid", lambda p: SigmoidCalibrator(a=float(p["a"]), b=float(p["b"])))
register_calibrator("isotonic", _isotonic)
register_calibrator("dose_interval", lambda p: DoseIntervalCalibrator(str(p["transform"]), float(p["coverage"]),
                                                                      float(p["log_halfwidth"])))
