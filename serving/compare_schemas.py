"""Request and response bodies of the treatment comparison and what-if routes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from serving.dose_schemas import DoseEstimate, DoseExplanation
from serving.schemas import Flag, PatientIn


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CompareRequest(_Body):
    patients: list[PatientIn] = Field(min_length=1, description="Covariates only: the treatment is not a feature "
                                                                "you send; every candidate is scored")


class TreatmentOutcome(BaseModel):
    treatment: str
    predicted_outcome: float = Field(description="Predicted outcome under this treatment (1-year event "
                                                 "probability for a binary outcome)")
    difference: float | None = Field(description="This treatment minus the reference; null for the reference")
    interval_95: tuple[float, float] | None = Field(description="95% interval of the difference")
    reliable_difference: bool | None = Field(description="False when the interval crosses zero")
    verdict: str


class Driver(BaseModel):
    feature: str
    display_name: str
    value: float | None
    contribution: float = Field(description="Exact TreeSHAP of arm minus reference, on ``drivers_scale``")


class Recommendation(BaseModel):
    source: str = Field(description="Who recommends: the model, or the guideline (clearly labelled)")
    treatment: str | None = Field(description="null: no preference (no reliable difference / no genotype)")
    text: str


class PatientComparison(BaseModel):
    patient_id: str
    reference: str
    outcome: str
    treatments: list[TreatmentOutcome]
    drivers_scale: str
    drivers_total: float = Field(description="Sum of the drivers = the difference on ``drivers_scale``")
    drivers: list[Driver] = Field(description="Largest absolute first; the treatment column carries the "
                                              "treatment's own effect and the share of its interactions that "
                                              "TreeSHAP assigns to it, so it varies from patient to patient")
    model_recommendation: Recommendation
    guideline_recommendation: Recommendation


class CompareResponse(BaseModel):
    request_id: str
    model: str
    version: str
    alias: str
    interval_method: str
    comparisons: list[PatientComparison]


class WhatIfRequest(_Body):
    patient: PatientIn
    changes: dict[str, Any] = Field(min_length=1, description="Modifiable feature -> new value (smoking, LDL, "
                                                              "blood pressure, HbA1c)")


class WhatIfResponse(BaseModel):
    request_id: str
    model: str
    version: str
    patient_id: str
    risk_now: float
    risk_if_changed: float
    difference: float
    changed: list[str]
    interpretation: Literal["associational"] = "associational"
    caveat: str


class DoseStrategy(BaseModel):
    """One way to choose the starting dose, labelled with who computes it, set against the model's dose."""

    strategy: Literal["iwpc_pharmacogenetic", "iwpc_clinical", "fixed_35mg_week"]
    source: str = Field(description="Who computes this dose (never the model)")
    dose_mg_week: float | None = Field(description="null when an input the algorithm needs is missing")
    dose_mg_day: float | None
    dose_band: Literal["low", "intermediate", "high"] | None
    difference_from_model_mg_week: float | None = Field(description="This dose minus the model's; null when "
                                                                    "either is unavailable")
    within_model_interval: bool | None = Field(description="Whether this dose lies inside the model's "
                                                           "prediction interval")
    note: str | None = Field(None, description="Why the dose is missing, or a caveat for this patient")


class DoseComparison(BaseModel):
    patient_id: str
    model_dose: DoseEstimate = Field(description="The model's dose with its prediction interval (null dose when "
                                                 "it abstains)")
    strategies: list[DoseStrategy] = Field(description="IWPC pharmacogenetic, IWPC clinical, fixed 35 mg/week")
    explanation: DoseExplanation | None = Field(description="Exact drivers of the model's dose")
    missing_features: list[str]
    flags: list[Flag] = []
    abstained: bool = False
    abstain_reason: str | None = None


class DoseComparisonResponse(BaseModel):
    request_id: str
    model: str
    version: str
    alias: str
    task: Literal["dose_regression"] = "dose_regression"
    unit: Literal["mg/week"] = "mg/week"
    caveat: str
    comparisons: list[DoseComparison]
