"""The survival task: P(event by the horizon) from a ``survival:cox`` booster, explained exactly in log hazard ratio.

It is the risk task with another calibrator (``kernel.artifacts.survival``: risk = 1 - exp(-H0 exp(slope m))),
so flags, abstention, risk points, concepts, what-if and the page are the risk task's own helpers, unedited;
this package restates the answers at the horizon (``answer``), adds both explanations to what-if
(``what_if``) and says on the page that the model is a time-to-event one (``page``).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import BaseModel

from kernel.artifacts.survival import METHOD, SCALE, SurvivalArtifact
from kernel.bundle import Bundle
from serving.risk.task import RiskTask
from serving.schemas import WhatIfResponse
from serving.served import Call, PageSection, ServedModel, TaskRefusal
from serving.survival.answer import SurvivalPredictionResponse, survival_response
from serving.survival.page import SURVIVAL_PAGE
from serving.survival.what_if import SurvivalWhatIfResponse, survival_what_if


class SurvivalTask(RiskTask):
    """Survival models: predict (risk at the horizon, flags, abstention, explanation), what-if, the page."""

    name: ClassVar[str] = "survival"
    rank: ClassVar[int] = 3
    predict_response: ClassVar[type[BaseModel] | None] = SurvivalPredictionResponse
    what_if: ClassVar[bool] = True
    what_if_response: ClassVar[type[BaseModel]] = SurvivalWhatIfResponse
    page: ClassVar[PageSection | None] = SURVIVAL_PAGE

    def check(self, bundle: Bundle) -> None:
        """Only the horizon calibrator turns a log hazard ratio into a risk; a sigmoid would read it as log-odds."""
        if bundle.calibrator.method != METHOD or not isinstance(bundle.spec, SurvivalArtifact):
            raise TaskRefusal(f"task survival needs a {METHOD} calibrator and a survival artifact, "
                              f"not {bundle.calibrator.method}")

    def explanation_scale(self, model: ServedModel) -> str:  # noqa: ARG002
        return SCALE

    def predict(self, model: ServedModel, call: Call, explain: bool) -> BaseModel:
        return survival_response(model, call, explain)

    def re_scored(self, model: ServedModel, answer: WhatIfResponse, rows: np.ndarray) -> BaseModel:
        """What-if's answer: the route's (risk now and if changed, audited) with both patients explained at the
        horizon (``rows``: the patient as sent, then with the changes). The what-if route hands its answer here
        once it asks the task (``ServedTask.re_scored``); a route that does not answers the risk task's shape."""
        return survival_what_if(model, answer, rows)
