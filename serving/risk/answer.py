"""One patient's answer, as both the JSON API and the clinician page give it.

Brings together the exact explanation (log-odds), the risk-points view, the clinical concepts and the
flags, and withholds every number from which the risk could be read back when the model abstains.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import xgboost as xgb

from kernel.artifact import Artifact, ArtifactFeature
from serving.explain import SCALE, Explained
from serving.flags import Assessment, assess, unseen_missing
from serving.risk import points as risk_points
from serving.risk.concepts import ConceptPlan, concept_dicts, direction, horizon_text
from serving.schemas import PatientPrediction
from serving.served import ServedModel

Category = Literal["low", "intermediate", "high"]


@dataclass(frozen=True)
class RiskState:
    """What every risk answer of one served version reuses, built once at load (``RiskTask.prepare``)."""

    plan: ConceptPlan  # the features grouped by concept, with their texts
    low: np.ndarray  # per feature, the narrowest range inside which ``serving.flags`` raises nothing
    high: np.ndarray
    horizon_years: float | None  # the artifact's: every answer states it (``horizon``)

    @classmethod
    def of(cls, spec: Artifact) -> RiskState:
        low, high = flag_bounds(spec.features)
        return cls(plan=ConceptPlan.of(spec.features), low=low, high=high, horizon_years=spec.horizon_years)

    @property
    def horizon(self) -> float:
        """The horizon every risk answer states. Training refuses a risk spec without one, so a bundle that
        lacks it is a training defect: refused here, when it would be answered, rather than stated as null."""
        if self.horizon_years is None:
            raise ValueError("this version's artifact declares no horizon_years, which every risk answer states")
        return self.horizon_years


def risk_state(model: ServedModel) -> RiskState:
    """The served version's risk state (a treatment model's state extends it)."""
    state = model.state
    if not isinstance(state, RiskState):
        raise TypeError(f"{model.name} version {model.version} carries no risk state (task {model.spec.task})")
    return state


def risk_category(risk: float, spec: Artifact) -> Category | None:
    """Low below the lower decision threshold, high at or above the upper one; None if none declared."""
    thresholds = spec.decision_thresholds
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
    spec = model.spec
    state = risk_state(model)
    plan, horizon = state.plan, state.horizon
    assessed = _assessments(model, X)
    phi = np.asarray(contributions, dtype=np.float64)
    points = risk_points.allocate(model.bundle.calibrator, base_value, phi, risk)
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
    spec, horizon = model.spec, risk_state(model).horizon
    missing, assessment = _assessed(model, row)
    if assessment.abstain_reason:
        return _abstained(patient_id, horizon, missing, assessment)
    return PatientPrediction(patient_id=patient_id, risk=risk, risk_percent=round(100 * risk, 2),
                             risk_category=risk_category(risk, spec), horizon_years=horizon,
                             missing_features=missing, explanation=None, flags=assessment.flags)


def _assessed(model: ServedModel, row: np.ndarray) -> tuple[list[str], Assessment]:
    """Missing features and the flags of one row."""
    return _assessments(model, row[None, :])[0]


def _assessments(model: ServedModel, X: np.ndarray) -> list[tuple[list[str], Assessment]]:
    """Per row, the missing features and the flags. A value present and inside every bound that
    ``serving.flags`` checks cannot raise a flag, so only the other values are walked, and a row with
    none needs no flag and cannot abstain."""
    state = risk_state(model)
    low, high = state.low, state.high
    outside = ~((low <= X) & (high >= X))  # NaN (missing) is outside too
    flagged: list[bool] = np.asarray(outside.any(axis=1)).tolist()
    names = model.bundle.feature_names
    out: list[tuple[list[str], Assessment]] = []
    for i, any_outside in enumerate(flagged):
        if not any_outside:
            out.append(([], Assessment(flags=[], abstain_reason=None)))
            continue
        row = X[i]
        missing = [names[j] for j in np.flatnonzero(np.isnan(row))]
        effects = unseen_effects(model, row) if missing and model.spec.missing_unseen == "warn" else None
        out.append((missing, assess(model.spec, row, np.flatnonzero(outside[i]).tolist(), effects)))
    return out


def unseen_effects(model: ServedModel, row: np.ndarray) -> dict[int, float]:
    """For each missing input the model (almost) never saw missing in training (``serving.flags``), how far the
    blank moves the risk: risk as given minus the risk with that input at its training median, in percentage
    points (the warning of ``missing_unseen: warn`` states it). Inputs without a recorded median are left out."""
    spec = model.spec
    unseen = [j for j in unseen_missing(spec, row) if spec.features[j].example is not None]
    if not unseen:
        return {}
    rows = np.repeat(row[None, :], len(unseen) + 1, axis=0)
    for k, j in enumerate(unseen, start=1):
        rows[k, j] = spec.features[j].example
    bundle = model.bundle
    margin = np.asarray(bundle.booster.predict(xgb.DMatrix(rows, missing=np.nan), output_margin=True),
                        dtype=np.float64)
    risk = np.asarray(bundle.calibrator.predict(margin), dtype=np.float64)
    return {j: float(100 * (risk[0] - risk[k])) for k, j in enumerate(unseen, start=1)}


def flag_bounds(features: list[ArtifactFeature]) -> tuple[np.ndarray, np.ndarray]:
    """Per feature, the narrowest range inside which ``serving.flags._value_flag`` raises nothing: the
    training min/max and, for continuous features, the training p01/p99."""
    low, high = [], []
    for f in features:
        q = f.training_quantiles if f.kind == "continuous" else {}
        lows = [v for v in (f.training_min, q.get("p01") if q.get("p99") is not None else None) if v is not None]
        highs = [v for v in (f.training_max, q.get("p99") if q.get("p01") is not None else None) if v is not None]
        low.append(max(lows, default=-np.inf))
        high.append(min(highs, default=np.inf))
    return np.array(low, dtype=np.float64), np.array(high, dtype=np.float64)


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
        shown = None if math.isnan(v) else f.text(v) if f.codes is not None else v  # a code as written
        out.append({"feature": f.name, "display_name": f.display_name, "value": shown,
                    "unit": f.unit, "source": f.source, "concept": f.concept, "contribution": c,
                    "risk_points": points[j], "direction": direction(c)})
    return out
