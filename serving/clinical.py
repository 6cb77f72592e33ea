"""One patient's answer, as both the JSON API and the clinician page give it.

Brings together the exact explanation (log-odds), the risk-points view, the clinical concepts and the
flags, and withholds every number from which the risk could be read back when the model abstains.
"""

from __future__ import annotations

import math
import weakref
from typing import Any, Literal

import numpy as np
import xgboost as xgb

from serving import risk_points
from serving.concepts import ConceptPlan, direction, group_concepts
from serving.explain import SCALE, Explained
from serving.flags import Assessment, assess
from serving.registry import ServedModel
from serving.schemas import Contribution, Explanation, PatientPrediction, RiskPointsSummary

Category = Literal["low", "intermediate", "high"]
_BOUNDS: weakref.WeakKeyDictionary[xgb.Booster, tuple[np.ndarray, np.ndarray]] = weakref.WeakKeyDictionary()
_PLANS: weakref.WeakKeyDictionary[xgb.Booster, ConceptPlan] = weakref.WeakKeyDictionary()


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
    missing, assessment = _assessed(model, row)
    if assessment.abstain_reason:
        return _abstained(patient_id, horizon, missing, assessment)
    phi = np.asarray(explained.contributions[i], dtype=np.float64)
    risk = float(explained.risk[i])
    points = risk_points.allocate(model.bundle.calibrator, explained.base_value[i:i + 1], phi[None, :],
                                  explained.risk[i:i + 1])
    by_feature = points.points[0]
    baseline = float(points.baseline_risk[0])
    plan = _concept_plan(model)
    return PatientPrediction(
        patient_id=patient_id, risk=risk, risk_percent=round(100 * risk, 2),
        risk_category=risk_category(risk, spec), horizon_years=horizon, missing_features=missing,
        explanation=Explanation(scale=SCALE, base_value=float(explained.base_value[i]),
                                margin=float(explained.margin[i]),
                                contributions=_contributions(plan, row, phi, by_feature)),
        risk_points=RiskPointsSummary(scale=risk_points.SCALE, method=risk_points.METHOD, baseline_risk=baseline,
                                      baseline_percent=round(100 * baseline, 2),
                                      total_points=100 * (risk - baseline)),
        concepts=group_concepts(features, row, phi, by_feature, horizon, plan),
        flags=assessment.flags)


def risk_only_prediction(model: ServedModel, patient_id: str, row: np.ndarray, risk: float) -> PatientPrediction:
    """The answer without an explanation (``?explain=false``), for applications that need only the number.

    Flags and abstention are decided exactly as in the full answer (they cost little and guard the number);
    ``explanation`` and ``risk_points`` are null and ``concepts`` is empty.
    """
    spec = model.bundle.feature_spec
    missing, assessment = _assessed(model, row)
    if assessment.abstain_reason:
        return _abstained(patient_id, spec["horizon_years"], missing, assessment)
    return PatientPrediction(patient_id=patient_id, risk=risk, risk_percent=round(100 * risk, 2),
                             risk_category=risk_category(risk, spec), horizon_years=spec["horizon_years"],
                             missing_features=missing, explanation=None, flags=assessment.flags)


def _assessed(model: ServedModel, row: np.ndarray) -> tuple[list[str], Assessment]:
    """Missing features and the flags; a row with every value present and inside every bound that
    ``serving.flags`` checks needs no flag and cannot abstain, so the per-feature walk is skipped."""
    features = model.features
    missing = [features[j]["name"] for j in np.flatnonzero(np.isnan(row))]
    low, high = _flag_bounds(model)
    if not missing and bool(np.all((row >= low) & (row <= high))):
        return missing, Assessment(flags=[], abstain_reason=None)
    return missing, assess(model.bundle.feature_spec, row)


def _concept_plan(model: ServedModel) -> ConceptPlan:
    """The served version's features grouped by concept, with their texts; built once per booster."""
    booster = model.bundle.booster
    plan = _PLANS.get(booster)
    if plan is None:
        plan = _PLANS[booster] = ConceptPlan.of(model.features)
    return plan


def _flag_bounds(model: ServedModel) -> tuple[np.ndarray, np.ndarray]:
    """Per feature, the narrowest range inside which ``serving.flags._value_flag`` raises nothing: the
    training min/max and, for continuous features, the training p01/p99. Computed once per booster."""
    booster = model.bundle.booster
    bounds = _BOUNDS.get(booster)
    if bounds is None:
        low, high = [], []
        for f in model.features:
            q = (f.get("training_quantiles") or {}) if f.get("kind") == "continuous" else {}
            lows = [v for v in (f.get("training_min"), q.get("p01") if q.get("p99") is not None else None)
                    if v is not None]
            highs = [v for v in (f.get("training_max"), q.get("p99") if q.get("p01") is not None else None)
                     if v is not None]
            low.append(max(lows, default=-np.inf))
            high.append(min(highs, default=np.inf))
        bounds = _BOUNDS[booster] = (np.array(low, dtype=np.float64), np.array(high, dtype=np.float64))
    return bounds


def _abstained(patient_id: str, horizon: float, missing: list[str], assessment: Assessment) -> PatientPrediction:
    """No number from which the risk could be read back: no risk, category, explanation or risk points."""
    return PatientPrediction(patient_id=patient_id, risk=None, risk_percent=None, horizon_years=horizon,
                             missing_features=missing, explanation=None, flags=assessment.flags,
                             abstained=True, abstain_reason=assessment.abstain_reason)


def _contributions(plan: ConceptPlan, row: np.ndarray, phi: np.ndarray, points: np.ndarray) -> list[Contribution]:
    values, phi_list, points_list = row.tolist(), phi.tolist(), points.tolist()
    contributions = [
        Contribution(feature=f.name, display_name=f.display_name, value=None if math.isnan(v) else v, unit=f.unit,
                     source=f.source, concept=f.concept, contribution=c, risk_points=p, direction=direction(c))
        for f, v, c, p in zip(plan.features, values, phi_list, points_list)]
    return sorted(contributions, key=lambda c: abs(c.contribution), reverse=True)
