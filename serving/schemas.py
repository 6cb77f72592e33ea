"""Request and response bodies of the HTTP API, named by role."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatientIn(_Body):
    patient_id: str = Field(min_length=1, max_length=128,
                            description="Caller's reference for the patient; returned, never logged")
    features: dict[str, Any] = Field(description="Feature name -> value, as listed by GET /v1/models/{name}; "
                                                 "omit or send null for a missing value where allowed")


class PredictionRequest(_Body):
    patients: list[PatientIn] = Field(min_length=1)


class Contribution(BaseModel):
    feature: str
    display_name: str
    value: float | None = Field(description="The patient's value (null = missing; the model's "
                                            "learned default branch was used)")
    unit: str
    source: str
    contribution: float = Field(description="Exact TreeSHAP value on the explanation's scale")
    direction: Literal["raises risk", "lowers risk", "no effect"]


class Explanation(BaseModel):
    scale: str
    base_value: float = Field(description="Expected margin over the training data")
    margin: float = Field(description="base_value + sum of contributions; risk = calibration(margin)")
    contributions: list[Contribution] = Field(description="Sorted by absolute size, largest first")


class PatientPrediction(BaseModel):
    patient_id: str
    risk: float = Field(ge=0, le=1, description="Calibrated probability of the outcome within the horizon")
    risk_percent: float
    horizon_years: float
    missing_features: list[str]
    explanation: Explanation


class PredictionResponse(BaseModel):
    request_id: str
    model: str
    version: str
    alias: str
    outcome: str
    predictions: list[PatientPrediction]


class FeatureInfo(BaseModel):
    name: str
    display_name: str
    unit: str
    source: str
    kind: str
    min: float
    max: float
    required: bool
    concept: str
    loinc: str | None
    example: float = Field(description="A valid, typical value (training median)")
    training_min: float | None
    training_max: float | None


class ModelSummary(BaseModel):
    name: str
    version: str
    alias: str


class ModelList(BaseModel):
    models: list[ModelSummary]


class ModelInfo(ModelSummary):
    description: str
    intended_use: str
    task: str
    target: str
    horizon_years: float
    calibration: dict[str, Any]
    explanation_scale: str
    features: list[FeatureInfo]


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    detail: list[ErrorItem] | str
