"""The clinician page's dose section: the weekly dose with its interval beside the IWPC and fixed-dose
strategies, and the drivers in words, from the API's own ``dose_comparisons``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from serving.feature_text import FeatureText
from serving.regression.compare import dose_comparisons
from serving.regression.schemas import DoseComparison
from serving.served import PageSection, ServedModel

TOP_DRIVERS = 5


def dose_answer(model: ServedModel, patient_ref: str, row: np.ndarray) -> DoseComparison:
    return dose_comparisons(model, [patient_ref], row[None, :])[0]


def dose_context(model: ServedModel, result: DoseComparison | None) -> dict[str, Any]:
    if result is None or result.explanation is None:
        return {}
    texts = {f.name: FeatureText.of(f) for f in model.features}
    drivers = [c for c in result.explanation.contributions if abs(c.contribution) >= 0.005][:TOP_DRIVERS]
    return {"drivers": [{"contribution": c.contribution,
                         "sentence": f"{c.display_name}: {_dose_value(texts[c.feature], c.value)} {c.direction} "
                                     f"({c.contribution:+.2f} on the square-root scale)"} for c in drivers]}


def _dose_value(text: FeatureText, value: float | None) -> str:
    """'80 kg', 'yes', 'taking', '1' for an allele count, 'not typed' for a genotype left empty."""
    if value is None or math.isnan(value):
        return "not typed" if text.kind == "count" else "not recorded"
    if text.labels or text.kind == "continuous":
        return text.text(value)
    return f"{value:g}"


DOSE_PAGE = PageSection(template="clinician/dose.html", submit_label="Estimate the dose", answer=dose_answer,
                        context=dose_context, audit_kind="dose")
