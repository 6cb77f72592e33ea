"""One patient's answer, as both the JSON API and the clinician page give it.

Brings together the exact explanation (log-odds), the risk-points view, the clinical concepts and the
flags, and withholds every number from which the risk could be read back when the model abstains.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import xgboost as xgb

from serving import risk_points
from serving.concepts import ConceptPlan, concept_dicts, direction, horizon_text
from serving.explain import SCALE, Explained
from serving.flags import Assessment, assess
from serving.registry import ServedModel
from serving.schemas import PatientPrediction

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
    at = slice(i, i + 1)
    return _answers(model, [patient_id], row[None, :], explained.base_value[at], explained.margin[at],
                    explained.risk[at], explained.contributions[at])[0]


def explained_predictions(model: ServedModel, patient_ids: Sequence[str], X: np.ndarray,
                          explained: Explained) -> list[PatientPrediction]:
    """Every patient's full answer for an explained batch, equal to ``patient_prediction`` row by row; the
    numeric work (flag bounds, risk points, concept sums, both sort orders) is done once for the batch."""
    return _answers(model, patient_ids, X, explained.base_value, explained.margin, explained.risk,
                    explained.contributions)


def _answers(model: ServedModel, patient_ids: Sequence[str], X: np.ndarray, base_value: np.ndarray,
             margin: np.ndarray, risk: np.ndarray, contributions: np.ndarray) -> list[PatientPrediction]:
    """The answers for rows of X with their explanation. Each is built as plain dicts and validated once:
    pydantic makes the nested models (about 180 a patient) from dicts faster than from Python calls."""
    spec = model.bundle.feature_spec
    horizon = spec["horizon_years"]
    assessed = _assessments(model, X)
    phi = np.asarray(contributions, dtype=np.float64)
    points = risk_points.allocate(model.bundle.calibrator, base_value, phi, risk)
    plan = _concept_plan(model)
    concept_log_odds, concept_points = plan.sums(phi), plan.sums(points.points)
    by_feature = np.argsort(-np.abs(phi), axis=1, kind="stable").tolist()  # sorted(abs, reverse=True) is stable
    by_concept = plan.order(concept_log_odds, concept_points).tolist()
    values, phi_rows, point_rows = X.tolist(), phi.tolist(), points.points.tolist()
    concept_log_odds, concept_points = concept_log_odds.tolist(), concept_points.tolist()
    risks, baselines = np.asarray(risk).tolist(), points.baseline_risk.tolist()
    bases, margins = np.asarray(base_value).tolist(), np.asarray(margin).tolist()
    words = horizon_text(horizon)
    answers = []
    for i, patient_id in enumerate(patient_ids):
        missing, assessment = assessed[i]
        if assessment.abstain_reason:
            answers.append(_abstained(patient_id, horizon, missing, assessment))
            continue
        r, baseline = risks[i], baselines[i]
        answers.append(PatientPrediction.model_validate({
            "patient_id": patient_id, "risk": r, "risk_percent": round(100 * r, 2),
            "risk_category": risk_category(r, spec), "horizon_years": horizon, "missing_features": missing,
            "explanation": {"scale": SCALE, "base_value": bases[i], "margin": margins[i],
                            "contributions": _contribution_dicts(plan, values[i], phi_rows[i], point_rows[i],
                                                                 by_feature[i])},
            "risk_points": {"scale": risk_points.SCALE, "method": risk_points.METHOD, "baseline_risk": baseline,
                            "baseline_percent": round(100 * baseline, 2), "total_points": 100 * (r - baseline)},
            "concepts": concept_dicts(plan, values[i], by_concept[i], concept_log_odds[i], concept_points[i], words),
            "flags": assessment.flags}))
    return answers


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
    """Missing features and the flags of one row."""
    return _assessments(model, row[None, :])[0]


def _assessments(model: ServedModel, X: np.ndarray) -> list[tuple[list[str], Assessment]]:
    """Per row, the missing features and the flags. A value present and inside every bound that
    ``serving.flags`` checks cannot raise a flag, so only the other values are walked, and a row with
    none needs no flag and cannot abstain."""
    low, high = _flag_bounds(model)
    outside = ~((X >= low) & (X <= high))  # NaN (missing) is outside too
    flagged = outside.any(axis=1).tolist()
    names = [f["name"] for f in model.features]
    out: list[tuple[list[str], Assessment]] = []
    for i, any_outside in enumerate(flagged):
        if not any_outside:
            out.append(([], Assessment(flags=[], abstain_reason=None)))
            continue
        row = X[i]
        missing = [names[j] for j in np.flatnonzero(np.isnan(row))]
        out.append((missing, assess(model.bundle.feature_spec, row, np.flatnonzero(outside[i]).tolist())))
    return out


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


def _contribution_dicts(plan: ConceptPlan, values: list[float], phi: list[float], points: list[float],
                        order: list[int]) -> list[dict[str, Any]]:
    """One patient's per-feature contributions as plain dicts, in ``order`` (largest absolute first)."""
    out = []
    for j in order:
        f, v, c = plan.features[j], values[j], phi[j]
        out.append({"feature": f.name, "display_name": f.display_name, "value": None if math.isnan(v) else v,
                    "unit": f.unit, "source": f.source, "concept": f.concept, "contribution": c,
                    "risk_points": points[j], "direction": direction(c)})
    return out
