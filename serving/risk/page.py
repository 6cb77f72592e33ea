"""The clinician page's risk section: the risk, its category, the drivers in a clinician's words and the
waterfall, from the same function the JSON API answers with (``serving.risk.answer``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from serving import waterfall
from serving.explain import explain
from serving.risk.answer import patient_prediction, risk_state
from serving.schemas import PatientPrediction
from serving.served import PageSection, ServedModel

TOP_DRIVERS = 5
CATEGORY_NAMES = {"low": "Low risk", "intermediate": "Intermediate risk", "high": "High risk"}


def risk_answer(model: ServedModel, patient_ref: str, row: np.ndarray) -> PatientPrediction:
    X = row[None, :]
    return patient_prediction(model, patient_ref, X[0], explain(model.bundle, X, model.explainer), 0)


def risk_context(model: ServedModel, result: PatientPrediction | None) -> dict[str, Any]:
    """What the risk template shows around the answer: horizon, thresholds, category, drivers, waterfall."""
    spec = model.spec
    context: dict[str, Any] = {"horizon_text": f"{risk_state(model).horizon:g}-year",
                               "outcome_text": spec.description}
    thresholds = spec.decision_thresholds
    context["thresholds_text"] = (f"low below {100 * thresholds[0]:g}%, high from {100 * thresholds[1]:g}%"
                                  if thresholds else "this model version declares no thresholds")
    if result is None or result.abstained or result.risk is None or result.risk_points is None:
        return context  # an abstention shows neither the risk nor its points
    context["category_label"] = CATEGORY_NAMES.get(result.risk_category or "", "No category")
    context["drivers"] = [c for c in result.concepts[:TOP_DRIVERS] if round(abs(c.risk_points), 1) > 0]
    context["fall"] = waterfall.build(100 * result.risk_points.baseline_risk, 100 * result.risk, result.concepts,
                                      thresholds=thresholds or [])
    return context


RISK_PAGE = PageSection(template="clinician/page.html", submit_label="Estimate risk", answer=risk_answer,
                        context=risk_context, audit_kind=None)
