"""Risk points: each feature's share of (risk - baseline risk), on the calibrated probability scale.

TreeSHAP contributions add up on the log-odds (margin) scale, but clinicians reason in risk. The calibrator
F maps the margin to the calibrated risk, so the quantity to share out is F(margin) - F(base_value), where
F(base_value) is the *baseline risk*: the calibrated risk of the expected margin over the training data.

Method (integrated gradients / Aumann-Shapley over the calibrator): move every feature's contribution
together along the straight path from the base margin to the patient's margin. Feature j is credited

    points_j = phi_j * s,   s = (F(margin) - F(base)) / (margin - base)

where s is the average slope of F between the two margins (the secant). This is exactly proportional
allocation by log-odds share, it keeps each contribution's sign and ranking, and the points add up to
F(margin) - F(base) by construction. s is bounded by the calibrator's steepest slope, so opposing
contributions that nearly cancel do not blow up. When the margin difference is zero (or so close to zero
that the division is noise), the limit of the secant is the slope F'(base), taken by a central difference;
then the points add to ~0 and so does the risk difference. Whatever floating-point rounding leaves over
(far below 1e-7 points) is spread in proportion to |phi|, so each row adds up to the risk difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from kernel.calibration import Calibrator

SCALE = "percentage points of calibrated risk (add up to risk - baseline risk)"
METHOD = ("log-odds contribution x average slope of the calibrator between the baseline margin and the "
          "patient's margin (integrated gradients over the calibrator; proportional allocation)")
_TINY_MARGIN = 1e-9  # below this |margin - base| the secant is rounding noise: use the slope at the base
_STEP = 1e-4  # central-difference step on the margin for that slope


@dataclass(frozen=True)
class RiskPoints:
    baseline_risk: np.ndarray  # (n,) F(base_value)
    risk: np.ndarray  # (n,) F(margin), the served risk
    points: np.ndarray  # (n, p) percentage points per feature; rows add to 100 * (risk - baseline_risk)


def allocate(calibrator: Calibrator, base_value: np.ndarray, contributions: np.ndarray,
             risk: np.ndarray) -> RiskPoints:
    """Share 100 * (risk - baseline risk) among features in proportion to their log-odds contributions.

    ``risk`` is the served risk (F of the served margin); the points add up to it exactly, up to
    floating-point rounding (tested to 1e-9 percentage points).
    """
    base = np.asarray(base_value, dtype=np.float64)
    phi = np.asarray(contributions, dtype=np.float64)
    risk = np.asarray(risk, dtype=np.float64)
    baseline = calibrator.predict(base)
    delta_margin = phi.sum(axis=1)
    tiny = np.abs(delta_margin) < _TINY_MARGIN
    safe = np.where(tiny, 1.0, delta_margin)
    slope = np.where(tiny, _slope_at(calibrator, base), (risk - baseline) / safe)
    points = 100.0 * phi * slope[:, None]
    return RiskPoints(baseline_risk=baseline, risk=risk, points=_close(points, 100.0 * (risk - baseline), phi))


def _close(points: np.ndarray, target: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Spread what rounding (or a kink of the calibrator at the base, in the near-zero case) left over,
    in proportion to |phi|, so each row adds up to its target; the residual is below 1e-7 points."""
    weight = np.abs(phi)
    total = weight.sum(axis=1, keepdims=True)
    residual = (target - points.sum(axis=1))[:, None]
    share = np.divide(weight, total, out=np.zeros_like(weight), where=total > 0)
    return points + residual * share


def _slope_at(calibrator: Calibrator, margin: np.ndarray) -> np.ndarray:
    return (calibrator.predict(margin + _STEP) - calibrator.predict(margin - _STEP)) / (2 * _STEP)
