"""One patient's answer, as both the JSON API and the clinician page give it.

Brings together the exact explanation (log-odds), the risk-points view, the clinical concepts and the
flags, and withholds every number from which the risk could be read back when the model abstains.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from serving import risk_points
from serving.concepts import concept_of, direction, group_concepts
from serving.explain import SCALE, Explained
from serving.flags import assess
from serving.registry import ServedModel
from serving.schemas import Contribution, Explanation, PatientPrediction, RiskPointsSummary

Category = Literal["low", "intermediate", "high"]


def risk_category(risk: float, feature_spec: dict[str, Any]) -> Category | None:
    """Low below the lower decision threshold, high at or above the upper one; None if none declared."""
    thresholds = feature_spec.get("decision_thresholds")
    if not thresholds:
        return None
    low, high = thresholds
    return "low" if risk < low else "high" if risk >= high else "intermediate"


def patient_prediction(model: ServedModel, patient_id: str, row: np.ndarray, explained: Explained,
                       i: int) -> PatientPrediction:
    """The full answer for row ``i`` of an explained batch (``row`` is that patient's feature row)."""
    spec = model.bundle.feature_spec
    features = model.features
    horizon = spec["horizon_years"]
    missing = [f["name"] for f, v in zip(features, row) if np.isnan(v)]
    assessment = assess(spec, row)
    if assessment.abstain_reason:
        return PatientPrediction(patient_id=patient_id, risk=None, risk_percent=None, horizon_years=horizon,
                                 missing_features=missing, explanation=None, flags=assessment.flags,
                                 abstained=True, abstain_reason=assessment.abstain_reason)
    phi = np.asarray(explained.contributions[i], dtype=np.float64)
    risk = float(explained.risk[i])
    points = risk_points.allocate(model.bundle.calibrator, explained.base_value[i:i + 1], phi[None, :],
                                  explained.risk[i:i + 1])
    by_feature = points.points[0]
    baseline = float(points.baseline_risk[0])
    return PatientPrediction(
        patient_id=patient_id, risk=risk, risk_percent=round(100 * risk, 2),
        risk_category=risk_category(risk, spec), horizon_years=horizon, missing_features=missing,
        explanation=Explanation(scale=SCALE, base_value=float(explained.base_value[i]),
                                margin=float(explained.margin[i]),
                                contributions=_contributions(features, row, phi, by_feature)),
        risk_points=RiskPointsSummary(scale=risk_points.SCALE, method=risk_points.METHOD, baseline_risk=baseline,
                                      baseline_percent=round(100 * baseline, 2),
                                      total_points=100 * (risk - baseline)),
        concepts=group_concepts(features, row, phi, by_feature, horizon),
        flags=assessment.flags)


def _contributions(features: list[dict[str, Any]], row: np.ndarray, phi: np.ndarray,
                   points: np.ndarray) -> list[Contribution]:
    values, phi_list, points_list = row.tolist(), phi.tolist(), points.tolist()
    contributions = [
        Contribution(feature=f["name"], display_name=f["display_name"], value=None if math.isnan(v) else v,
                     unit=f["unit"], source=f["source"], concept=concept_of(f), contribution=c, risk_points=p,
                     direction=direction(c))
        for f, v, c, p in zip(features, values, phi_list, points_list)]
    return sorted(contributions, key=lambda c: abs(c.contribution), reverse=True)
