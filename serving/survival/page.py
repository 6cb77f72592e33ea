"""The clinician page's survival section: the risk page (form grouped by source, risk, category, drivers
as sentences, risk points that add up, waterfall, flags, abstention) with what a time-to-event model adds:
that it is one, its horizon, how censored patients were used, and the scale its explanation is exact on.

The answer is predict's (``serving.risk.page.risk_answer`` restated by ``at_horizon``), so the page shows
the JSON API's numbers; the template (``clinician/survival.html``) extends the risk page's.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kernel.artifacts.survival import DAYS_PER_YEAR
from serving.feature_text import number_text
from serving.risk.page import risk_answer, risk_context
from serving.served import PageSection, ServedModel
from serving.survival.answer import SurvivalPatientPrediction, at_horizon, horizon_phrase, horizon_words, survival_spec

SCALE_WORDS = "log hazard ratio"


def survival_answer(model: ServedModel, patient_ref: str, row: np.ndarray) -> SurvivalPatientPrediction:
    return at_horizon(risk_answer(model, patient_ref, row), survival_spec(model))


def survival_context(model: ServedModel, result: SurvivalPatientPrediction | None) -> dict[str, Any]:
    """The risk page's context, its horizon in the spec's words, and the time-to-event facts: the horizon in
    the other unit (days or years), the outcome and, for an answer, the hazard ratio against the
    model's average patient (exp of the contributions' sum: the one number the explanation is exact in)."""
    spec = survival_spec(model)
    explanation = None if result is None or result.abstained else result.explanation
    words, in_years = horizon_words(spec.horizon_days), horizon_phrase(spec.horizon_days).endswith("-year")
    other = (f"{number_text(spec.horizon_days)} days" if in_years
             else f"{number_text(spec.horizon_days / DAYS_PER_YEAR)} years")
    facts = {"horizon_words": words, "horizon_days": spec.horizon_days, "horizon_other_unit": other,
             "outcome": spec.target.replace("_", " "),
             "hazard_ratio": None if explanation is None else math.exp(explanation.margin - explanation.base_value)}
    return {**risk_context(model, result), "horizon_text": horizon_phrase(spec.horizon_days),
            "scale_words": SCALE_WORDS, "survival": facts}


SURVIVAL_PAGE = PageSection(template="clinician/survival.html", submit_label="Estimate risk", answer=survival_answer,
                            context=survival_context, audit_kind=None)
