"""The regression task (``dose_regression``, warfarin today): a value in the artifact's unit with its
split-conformal interval, the published formulas beside it, and exact drivers on the fitted scale."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel

from kernel.bundle import Bundle
from kernel.calibration import DoseIntervalCalibrator
from serving.regression.compare import dose_comparisons
from serving.regression.dose import DOSE_BANDS_MG_WEEK, dose_predictions, explanation_scale, inconsistent_inputs
from serving.regression.page import DOSE_PAGE
from serving.regression.schemas import DoseComparisonResponse, DoseResponse
from serving.served import Call, PageSection, ServedModel, ServedTask, TaskRefusal


class RegressionTask(ServedTask):
    """Dose models: predict (dose, interval, IWPC dose, drivers), compare-treatments (the dosing
    strategies beside the model's dose) and the page; always explained."""

    name: ClassVar[str] = "dose_regression"
    rank: ClassVar[int] = 1
    compare_rank: ClassVar[int] = 1
    predict_response: ClassVar[type[BaseModel] | None] = DoseResponse
    compare_response: ClassVar[type[BaseModel] | None] = DoseComparisonResponse
    page: ClassVar[PageSection | None] = DOSE_PAGE

    def check(self, bundle: Bundle) -> None:
        """Only the ``dose_interval`` calibrator turns the margin back into mg/week with an interval."""
        if bundle.calibrator.method != "dose_interval":
            raise TaskRefusal(f"task {bundle.spec.task} does not go with a {bundle.calibrator.method} calibrator")

    def explanation_scale(self, model: ServedModel) -> str:
        calibrator = model.bundle.calibrator
        assert isinstance(calibrator, DoseIntervalCalibrator)  # check() refused any other at load
        return explanation_scale(calibrator)

    def predict(self, model: ServedModel, call: Call, explain: bool) -> BaseModel:  # noqa: ARG002 (always explains)
        X = self._rows(model, call)
        doses = dose_predictions(model, call.patient_ids, X)
        call.commit_predictions(model, [call.record(model, p.patient_id,
                                                    outcome="abstained" if d.abstained else "predicted", kind="dose")
                                        for p, d in zip(call.patients, doses, strict=True)])
        return DoseResponse(request_id=call.request_id, model=model.name, version=model.version, alias=model.alias,
                            outcome=model.spec.target, dose_bands_mg_week=DOSE_BANDS_MG_WEEK,
                            caveat=model.spec.intended_use, predictions=doses)

    def compare(self, model: ServedModel, call: Call) -> BaseModel:
        X = self._rows(model, call)
        comparisons = dose_comparisons(model, call.patient_ids, X)
        call.commit([call.record(model, p.patient_id, outcome="abstained" if c.abstained else "compared",
                                 kind="compare-treatments") for p, c in zip(call.patients, comparisons, strict=True)])
        return DoseComparisonResponse(request_id=call.request_id, model=model.name, version=model.version,
                                      alias=model.alias, caveat=model.spec.intended_use, comparisons=comparisons)

    def form_errors(self, model: ServedModel, row: np.ndarray) -> dict[str, str]:
        return {str(e["loc"][-1]): e["msg"] for e in inconsistent_inputs(row[None, :], model.bundle.feature_names)}

    @staticmethod
    def _rows(model: ServedModel, call: Call) -> np.ndarray:
        """Validated rows, then the check that values each in range are possible together."""
        X = call.rows(model.bundle.feature_names, model.request_model)
        if errors := inconsistent_inputs(X, model.bundle.feature_names):
            raise RequestValidationError(errors)
        return X
