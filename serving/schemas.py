"""Request and response bodies of the HTTP API, named by role: the requests every task shares and the risk
answer (a dose's and a treatment comparison's live in ``serving/regression`` and ``serving/treatment``)."""

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


Direction = Literal["raises risk", "lowers risk", "no effect"]


class Contribution(BaseModel):
    feature: str
    display_name: str
    value: float | str | None = Field(description="The patient's value (a coded feature's level or code as "
                                                  "written; null = missing: the model's learned default branch "
                                                  "was used)")
    unit: str
    source: str
    concept: str = Field("", description="The clinical concept this feature is grouped under")
    contribution: float = Field(description="Exact TreeSHAP value on the explanation's scale")
    risk_points: float | None = Field(None, description="Share of (risk - baseline risk), in percentage points")
    direction: Direction


class ConceptValue(BaseModel):
    feature: str
    display_name: str
    value: float | None
    unit: str
    text: str = Field(description="The value as a clinician reads it, e.g. '190 mg/dL', 'yes', 'not recorded'")


class Concept(BaseModel):
    """Contributions of the features behind one clinical concept, added together (both scales)."""

    concept: str = Field(description="Display name of the concept, e.g. 'LDL cholesterol'")
    sources: list[str] = Field(description="genetic / lifestyle / ehr / demographic / other")
    values: list[ConceptValue]
    log_odds: float = Field(description="Sum of the concept's features' exact TreeSHAP values (log-odds)")
    risk_points: float = Field(description="Sum of the concept's features' risk points (percentage points)")
    direction: Direction
    sentence: str = Field(description="The driver as a sentence, e.g. 'LDL cholesterol 190 mg/dL raises "
                                      "the 10-year risk by 3.1 points'")


class RiskPointsSummary(BaseModel):
    scale: str
    method: str
    baseline_risk: float = Field(description="calibration(base_value): the calibrated risk at the expected margin")
    baseline_percent: float
    total_points: float = Field(description="100 * (risk - baseline_risk); the risk points of all features add "
                                            "up to this")


class Flag(BaseModel):
    kind: Literal["outside_training_range", "unusual_value", "missing", "missing_unseen", "abstained"] = Field(
        description="missing_unseen: an input (almost) never missing in training is missing here; the message gives "
                    "the risk change against the training median (or the answer abstains)")
    severity: Literal["info", "warning", "critical"]
    feature: str | None = Field(description="The feature concerned (null for a flag about the whole prediction)")
    message: str = Field(description="What the flag means, without repeating the patient's value")


class Explanation(BaseModel):
    scale: str
    base_value: float = Field(description="Expected margin over the training data")
    margin: float = Field(description="base_value + sum of contributions; risk = calibration(margin)")
    contributions: list[Contribution] = Field(description="Sorted by absolute size, largest first")


class PatientPrediction(BaseModel):
    patient_id: str
    risk: float | None = Field(ge=0, le=1, description="Calibrated probability of the outcome within the "
                                                       "horizon; null when the model abstains")
    risk_percent: float | None
    risk_category: Literal["low", "intermediate", "high"] | None = Field(
        None, description="Against the model's decision thresholds (below the lower: low; at or above the "
                          "upper: high); null when abstaining or when the version declares none")
    horizon_years: float
    missing_features: list[str]
    explanation: Explanation | None = Field(description="Exact log-odds contributions; null when abstaining")
    risk_points: RiskPointsSummary | None = Field(None, description="The calibrated-risk scale; null when abstaining")
    concepts: list[Concept] = Field([], description="Contributions grouped by clinical concept, largest first")
    flags: list[Flag] = []
    abstained: bool = False
    abstain_reason: str | None = None


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
    levels: list[str] | None = Field(None, description="categorical: the levels a request takes, as written in the "
                                                       "training table")
    codes: list[str] | None = Field(None, description="binary with declared codes: the two codes a request takes")
    example: float | str = Field(description="A valid, typical value (training median; a coded feature's most "
                                             "common code, as a request writes it)")
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
    horizon_years: float | None = Field(description="Risk horizon; null for a dose-regression model")
    calibration: dict[str, Any]
    explanation_scale: str
    features: list[FeatureInfo]
    shadow: ModelSummary | None = Field(None, description="Version scored beside this one for shadow "
                                              "comparison (PMED_SHADOW_ALIAS); its results are never returned")


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorResponse(BaseModel):
    detail: list[ErrorItem] | str


class CompareRequest(_Body):
    patients: list[PatientIn] = Field(min_length=1, description="Covariates only: the treatment is not a feature "
                                                                "you send; every candidate is scored")


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
