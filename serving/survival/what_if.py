"""What-if for a survival model: the risk task's answer (risk now, risk with the changed modifiable
factors, their difference), at the horizon, with both patients' full explanations beside it.

Each explanation is the predict answer's own (``serving.risk.answer.explained_predictions`` restated by
``at_horizon``): exact TreeSHAP on the log-hazard scale adding up to the margin, and risk points on the
horizon-risk scale adding up to the risk. Like the risk task's what-if, it is associational: the model's
answer for a patient with those values, not the effect of changing them.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from kernel.artifacts.survival import SCALE
from serving.explain import explain
from serving.risk.answer import explained_predictions
from serving.schemas import WhatIfResponse
from serving.served import ServedModel
from serving.survival.answer import SurvivalPatientPrediction, at_horizon, survival_spec


class SurvivalWhatIfResponse(WhatIfResponse):
    """The risk task's what-if answer, the risks being P(event by the horizon), with both explanations."""

    task: Literal["survival"] = "survival"
    horizon_days: float = Field(description="risk_now and risk_if_changed are P(event within this many days)")
    horizon_years: float = Field(description="The same horizon in years (days / 365.25)")
    explanation_scale: str = Field(description="The scale of both explanations: log hazard ratio")
    now: SurvivalPatientPrediction = Field(description="The patient as sent, explained as predict explains it")
    if_changed: SurvivalPatientPrediction = Field(description="The patient with the changes, explained the same "
                                                              "way; its risk minus now's is ``difference``")


def survival_what_if(model: ServedModel, answer: WhatIfResponse, rows: np.ndarray) -> SurvivalWhatIfResponse:
    """``answer`` (the route's, already audited) completed from ``rows`` (the patient as sent, then changed).

    The risks are the explained ones, so ``risk_now`` is exactly ``now.risk`` and predict's risk for the
    same patient (the booster's own margin differs from TreeSHAP's sum by float32 rounding only).
    """
    spec = survival_spec(model)
    explained = explain(model.bundle, rows, model.explainer)
    now, changed = (at_horizon(a, spec) for a in
                    explained_predictions(model, [answer.patient_id] * 2, rows, explained))
    risk_now, risk_if_changed = (float(r) for r in explained.risk)
    return SurvivalWhatIfResponse.model_validate({
        **answer.model_dump(), "risk_now": risk_now, "risk_if_changed": risk_if_changed,
        "difference": risk_if_changed - risk_now, "horizon_days": spec.horizon_days,
        "horizon_years": now.horizon_years, "explanation_scale": SCALE,
        "now": now, "if_changed": changed})

