"""The clinician page's treatment section: both arms' risk, the difference with its interval, the model's
and the guideline's recommendations, and the drivers in words, from the API's own ``treatment_comparisons``."""

from __future__ import annotations

from typing import Any

import numpy as np

from kernel.artifacts.treatment import TreatmentArtifact
from kernel.formulas.cpic import CYP2C19_PHENOTYPES
from serving.feature_text import FeatureText
from serving.served import PageSection, ServedModel
from serving.treatment.compare import evidence_text, interval_method, treatment_comparisons, treatment_state
from serving.treatment.schemas import Driver, PatientComparison

TOP_DRIVERS = 5
SHORT_SCALE = {"binary": "log-odds ratio", "time_to_event": "log hazard ratio", "continuous": "outcome units"}
PHENOTYPE_FEATURE = "cyp2c19_phenotype_code"  # a CPIC phenotype code: shown by its name


def treatment_answer(model: ServedModel, patient_ref: str, row: np.ndarray) -> PatientComparison:
    return treatment_comparisons(model, [patient_ref], row[None, :])[0]


def treatment_context(model: ServedModel, result: PatientComparison | None) -> dict[str, Any]:
    """What the comparison template shows around the answer: horizon, outcome, interval method, drivers."""
    spec = model.spec
    assert isinstance(spec, TreatmentArtifact)
    info = spec.treatment
    horizon = (f"{info.horizon_days:g}-day" if info.horizon_days else
               f"{treatment_state(model).horizon:g}-year")
    context: dict[str, Any] = {"horizon_text": horizon,
                               "outcome_short": "an adverse event (MACE or major bleeding)"
                               if spec.target == "nace_1y" else info.outcome_label or spec.target or "the outcome",
                               "evidence": evidence_text(spec), "observational": not info.randomised}
    if result is None:
        return context
    state = treatment_state(model)
    candidate = result.treatments[-1]
    texts = {f.name: FeatureText.of(f) for f in state.covariates}
    drivers = [d for d in result.drivers if abs(d.contribution) >= 0.005][:TOP_DRIVERS]
    return {**context, "candidate": candidate, "interval_method": interval_method(state.effects, spec),
            "drivers": [{"contribution": d.contribution,
                         "sentence": _treatment_sentence(d, texts.get(d.feature), result.reference,
                                                         candidate.treatment, SHORT_SCALE[info.outcome])}
                        for d in drivers]}


def _treatment_sentence(driver: Driver, text: FeatureText | None, reference: str, candidate: str,
                        scale: str = "log-odds ratio") -> str:
    """'Prior major bleeding: yes favours clopidogrel (log-odds ratio +0.62)'."""
    favours = candidate if driver.contribution < 0 else reference
    if text is None:  # the treatment column (its own effect and its share of interactions)
        subject = driver.display_name[:1].upper() + driver.display_name[1:]
    elif driver.feature == PHENOTYPE_FEATURE and driver.value is not None:
        subject = f"{driver.display_name}: {CYP2C19_PHENOTYPES[int(driver.value)].lower()}"
    else:
        subject = f"{driver.display_name}: {text.text(driver.value)}"
    return f"{subject} favours {favours} ({scale} {driver.contribution:+.2f})"


def _audit_fields(result: PatientComparison) -> dict[str, Any]:
    return {"outcome": "compared", "model_recommendation": result.model_recommendation.treatment or "none"}


TREATMENT_PAGE = PageSection(template="clinician/compare.html", submit_label="Compare treatments",
                             answer=treatment_answer, context=treatment_context, audit_kind="compare-treatments",
                             audit_fields=_audit_fields)
