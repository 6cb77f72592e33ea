"""Warfarin's treatment comparison: the model's dose with its interval beside the dosing strategies a
prescriber would otherwise use (IWPC pharmacogenetic, IWPC clinical, a fixed 35 mg/week start).

Each strategy is labelled with its source and set against the model's dose (difference, inside the
model's interval or not). The doses come from ``kernel.formulas.iwpc`` (the one copy of each formula)
and the model's answer from ``serving.regression.dose.dose_predictions``, so predict and compare never disagree.
"""

from __future__ import annotations

import math

import numpy as np

from kernel.formulas.iwpc import CLINICAL, FIXED_DOSE_MG_WEEK, PHARMACOGENETIC, iwpc_dose
from serving.regression.dose import dose_band, dose_predictions, iwpc_inputs, iwpc_unavailable
from serving.regression.schemas import DoseComparison, DoseEstimate, DoseStrategy, PatientDose, Strategy
from serving.served import ServedModel

SOURCES: dict[Strategy, str] = {
    "iwpc_pharmacogenetic": "IWPC pharmacogenetic algorithm (N Engl J Med 2009;360:753-64, published "
                            "coefficients), not this model",
    "iwpc_clinical": "IWPC clinical algorithm (same paper; no genotypes), not this model",
    "fixed_35mg_week": "fixed empirical start of 5 mg/day (35 mg/week), not this model",
}
AFRICAN_ANCESTRY_NOTE = ("neither this model nor the IWPC algorithm reads CYP2C9 *5/*6/*8/*11, which are "
                         "more common in patients of African ancestry; both may overestimate the dose")


def dose_comparisons(model: ServedModel, patient_ids: list[str], X: np.ndarray) -> list[DoseComparison]:
    """For each validated row of X (model order, NaN = missing): the model's answer and the three strategies."""
    names = model.bundle.feature_names
    answers = dose_predictions(model, patient_ids, X)
    unavailable = iwpc_unavailable(names)
    doses = {"fixed_35mg_week": np.full(len(X), FIXED_DOSE_MG_WEEK)}
    if unavailable is None:
        inputs = iwpc_inputs(X, names)
        doses |= {"iwpc_pharmacogenetic": iwpc_dose(inputs, PHARMACOGENETIC),
                  "iwpc_clinical": iwpc_dose(inputs, CLINICAL)}
    black = X[:, names.index("race_black")] if "race_black" in names else np.zeros(len(X))
    out = []
    for i, answer in enumerate(answers):
        strategies = [_strategy(name, doses.get(name), i, answer, unavailable, black[i] == 1)
                      for name in SOURCES]
        out.append(DoseComparison(patient_id=answer.patient_id, model_dose=answer.model_dose, strategies=strategies,
                                  explanation=answer.explanation, missing_features=answer.missing_features,
                                  flags=answer.flags, abstained=answer.abstained,
                                  abstain_reason=answer.abstain_reason))
    return out


def _strategy(name: Strategy, doses: np.ndarray | None, i: int, answer: PatientDose, unavailable: str | None,
              african_ancestry: bool) -> DoseStrategy:
    if doses is None or math.isnan(float(doses[i])):
        why = unavailable or "an input this algorithm needs is missing for this patient"
        return DoseStrategy(strategy=name, source=SOURCES[name], dose_mg_week=None, dose_mg_day=None, dose_band=None,
                            difference_from_model_mg_week=None, within_model_interval=None, note=why)
    dose = float(doses[i])
    model: DoseEstimate = answer.model_dose
    interval = model.interval
    note = AFRICAN_ANCESTRY_NOTE if african_ancestry and name == "iwpc_pharmacogenetic" else None
    return DoseStrategy(
        strategy=name, source=SOURCES[name], dose_mg_week=dose, dose_mg_day=dose / 7, dose_band=dose_band(dose),
        difference_from_model_mg_week=None if model.dose_mg_week is None else dose - model.dose_mg_week,
        within_model_interval=None if interval is None else interval.low_mg_week <= dose <= interval.high_mg_week,
        note=note)
