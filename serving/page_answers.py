"""What the clinician page computes and shows for each kind of model, one ``PageKind`` per task.

Risk models: the risk, its category, drivers and waterfall. Treatment-response models: both arms' risk,
the difference with its interval, the model's and the guideline's recommendations, the drivers. Dose
models: the weekly dose with its interval beside the IWPC and fixed-dose strategies, and the drivers.
Every answer comes from the same function the JSON API uses, and is audit-logged (durably) before it is
shown, so an unwritable audit log means no answer (AuditError).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel

from serving import waterfall
from serving.audit import AuditLog
from serving.auth import Caller
from serving.clinical import patient_prediction
from serving.compare_schemas import DoseComparison, Driver, PatientComparison
from kernel.formulas.cpic import CYP2C19_PHENOTYPES
from serving.concepts import FeatureText
from serving.dose import DOSE_TASK, inconsistent_inputs
from serving.dose_compare import dose_comparisons
from serving.explain import explain
from serving.registry import ServedModel
from serving.schemas import PatientPrediction
from serving.treatment import (
    covariate_request_model,
    covariates,
    effect_model,
    interval_method,
    treatment_comparisons,
)

RISK_TASK = "risk_classification"
TREATMENT_TASK = "treatment_response"
TOP_DRIVERS = 5
PHENOTYPE_FEATURE = "cyp2c19_phenotype_code"  # a CPIC phenotype code: shown by its name
CATEGORY_NAMES = {"low": "Low risk", "intermediate": "Intermediate risk", "high": "High risk"}
Answer = PatientPrediction | PatientComparison | DoseComparison


@dataclass(frozen=True)
class PageKind:
    template: str
    submit_label: str
    answer: Callable[[ServedModel, str, np.ndarray], Answer]
    context: Callable[[ServedModel, Any], dict[str, Any]]
    audit_kind: str | None  # None: the risk page's records, as before kinds existed


def page_kind(model: ServedModel) -> PageKind | None:
    """How the page serves this model's task, or None when it does not (the API does)."""
    return KINDS.get(model.bundle.feature_spec.get("task", RISK_TASK))


def form_fields(model: ServedModel) -> tuple[list[dict[str, Any]], type[BaseModel]]:
    """The fields a clinician fills in and the request model that validates them (the API's own)."""
    if model.bundle.feature_spec.get("task") == TREATMENT_TASK:
        return covariates(model), covariate_request_model(model)
    return model.features, model.request_model


def form_errors(model: ServedModel, row: np.ndarray) -> dict[str, str]:
    """Values each in range but impossible together (the dose API's own check), by field."""
    if model.bundle.feature_spec.get("task") != DOSE_TASK:
        return {}
    return {str(e["loc"][-1]): e["msg"] for e in inconsistent_inputs(row[None, :], model.bundle.feature_names)}


def answer_and_audit(audit: AuditLog, caller: Caller, model: ServedModel, patient_ref: str, row: np.ndarray,
                     request_id: str) -> Answer:
    """The answer, once its audit record is durable; AuditError (and no answer) otherwise."""
    kind = page_kind(model)
    assert kind is not None  # the route refuses other tasks before reaching here
    result = kind.answer(model, patient_ref, row)
    abstained = getattr(result, "abstained", False)
    record = {"request_id": request_id, "key_id": caller.key_id, "role": caller.role, "model": model.name,
              "version": model.version, "alias": model.alias, "patient_key": audit.pseudonym(patient_ref),
              "channel": "clinician_page", "outcome": "abstained" if abstained else "predicted"}
    if kind.audit_kind:
        record["kind"] = kind.audit_kind
    if isinstance(result, PatientComparison):
        record |= {"outcome": "compared", "model_recommendation": result.model_recommendation.treatment or "none"}
    audit.record([record])
    return result


def _risk_answer(model: ServedModel, patient_ref: str, row: np.ndarray) -> PatientPrediction:
    X = row[None, :]
    return patient_prediction(model, patient_ref, X[0], explain(model.bundle, X), 0)


def _treatment_answer(model: ServedModel, patient_ref: str, row: np.ndarray) -> PatientComparison:
    return treatment_comparisons(model, effect_model(model), [patient_ref], row[None, :])[0]


def _dose_answer(model: ServedModel, patient_ref: str, row: np.ndarray) -> DoseComparison:
    return dose_comparisons(model, [patient_ref], row[None, :])[0]


def _risk_context(model: ServedModel, result: PatientPrediction | None) -> dict[str, Any]:
    spec = model.bundle.feature_spec
    horizon = spec["horizon_years"]
    context: dict[str, Any] = {"horizon_text": f"{horizon:g}-year", "outcome_text": spec.get("description", "")}
    thresholds = spec.get("decision_thresholds")
    context["thresholds_text"] = (f"low below {100 * thresholds[0]:g}%, high from {100 * thresholds[1]:g}%"
                                  if thresholds else "this model version declares no thresholds")
    if result is None or result.abstained:
        return context
    context["category_label"] = CATEGORY_NAMES.get(result.risk_category or "", "No category")
    context["drivers"] = [c for c in result.concepts[:TOP_DRIVERS] if round(abs(c.risk_points), 1) > 0]
    context["fall"] = waterfall.build(100 * result.risk_points.baseline_risk, 100 * result.risk, result.concepts,
                                      thresholds=thresholds or [])
    return context


def _treatment_context(model: ServedModel, result: PatientComparison | None) -> dict[str, Any]:
    spec = model.bundle.feature_spec
    context: dict[str, Any] = {"horizon_text": f"{spec['horizon_years']:g}-year",
                               "outcome_short": "an adverse event (MACE or major bleeding)"
                               if spec.get("target") == "nace_1y" else spec.get("target", "the outcome")}
    if result is None:
        return context
    candidate = result.treatments[-1]
    texts = {f["name"]: FeatureText.of(f) for f in covariates(model)}
    drivers = [d for d in result.drivers if abs(d.contribution) >= 0.005][:TOP_DRIVERS]
    return {**context, "candidate": candidate, "interval_method": interval_method(effect_model(model)),
            "drivers": [{"contribution": d.contribution,
                         "sentence": _treatment_sentence(d, texts.get(d.feature), result.reference,
                                                         candidate.treatment)} for d in drivers]}


def _treatment_sentence(driver: Driver, text: FeatureText | None, reference: str, candidate: str) -> str:
    """'Prior major bleeding: yes favours clopidogrel (log-odds ratio +0.62)'."""
    favours = candidate if driver.contribution < 0 else reference
    if text is None:  # the treatment column (its own effect and its share of interactions)
        subject = driver.display_name[:1].upper() + driver.display_name[1:]
    elif driver.feature == PHENOTYPE_FEATURE and driver.value is not None:
        subject = f"{driver.display_name}: {CYP2C19_PHENOTYPES[int(driver.value)].lower()}"
    else:
        subject = f"{driver.display_name}: {text.text(driver.value)}"
    return f"{subject} favours {favours} (log-odds ratio {driver.contribution:+.2f})"


def _dose_context(model: ServedModel, result: DoseComparison | None) -> dict[str, Any]:
    if result is None or result.explanation is None:
        return {}
    texts = {f["name"]: FeatureText.of(f) for f in model.features}
    drivers = [c for c in result.explanation.contributions if abs(c.contribution) >= 0.005][:TOP_DRIVERS]
    return {"drivers": [{"contribution": c.contribution,
                         "sentence": f"{c.display_name}: {_dose_value(texts[c.feature], c.value)} {c.direction} "
                                     f"({c.contribution:+.2f} on the square-root scale)"} for c in drivers]}


def _dose_value(text: FeatureText, value: float | None) -> str:
    """'80 kg', 'yes', 'taking', '1' for an allele count, 'not typed' for a genotype left empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not typed" if text.kind == "count" else "not recorded"
    if text.labels or text.kind == "continuous":
        return text.text(value)
    return f"{value:g}"


KINDS = {
    RISK_TASK: PageKind("clinician/page.html", "Estimate risk", _risk_answer, _risk_context, None),
    TREATMENT_TASK: PageKind("clinician/compare.html", "Compare treatments", _treatment_answer, _treatment_context,
                             "compare-treatments"),
    DOSE_TASK: PageKind("clinician/dose.html", "Estimate the dose", _dose_answer, _dose_context, "dose"),
}
