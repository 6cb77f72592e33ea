"""Response bodies of a treatment-response model's compare-treatments call (the request: ``CompareRequest``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class TreatmentOutcome(BaseModel):
    treatment: str
    predicted_outcome: float = Field(description="Predicted outcome under this treatment (event probability by the "
                                                 "horizon for a binary or time-to-event outcome)")
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
    evidence: str = Field("randomised trial", description="What the comparison rests on: a randomised trial, or "
                                                          "observational data (confounding possible)")
    outcome_measure: str = Field("", description="The outcome each arm's predicted_outcome measures, in words")
    horizon_days: float | None = Field(None, description="Time-to-event trials: the predicted outcomes are risks "
                                                         "by this day")
    comparisons: list[PatientComparison]
