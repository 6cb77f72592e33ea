"""Response bodies of a dose-regression model's predict and compare-treatments calls (the requests are the
shared ``PredictionRequest`` and ``CompareRequest``).

The model's dose and the IWPC pharmacogenetic dose sit side by side as two ``DoseEstimate`` objects, each
saying where it comes from, so neither can be mistaken for the other.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from serving.schemas import Flag

DoseBand = Literal["low", "intermediate", "high"]
DoseDirection = Literal["raises dose", "lowers dose", "no effect"]


class DoseInterval(BaseModel):
    low_mg_week: float
    high_mg_week: float
    coverage: float = Field(description="Nominal coverage, e.g. 0.9 for a 90% interval")
    method: str = Field(description="How the interval was made and where its measured coverage is reported")


class DoseEstimate(BaseModel):
    source: str = Field(description="Who computes this dose: the model (with its version) or the published "
                                    "IWPC algorithm (clearly labelled)")
    dose_mg_week: float | None = Field(description="Stable weekly dose, mg/week; null when the model abstains")
    dose_mg_day: float | None = Field(description="dose_mg_week / 7, for reading against daily tablets")
    dose_band: DoseBand | None = Field(description="low: <= 21 mg/week, high: >= 49 mg/week (IWPC groups)")
    interval: DoseInterval | None = Field(None, description="Prediction interval of the dose (model only)")
    inputs: dict[str, str] = Field({}, description="Categorical inputs the algorithm used, e.g. the genotypes "
                                                   "as it reads them ('unknown' when not typed)")


class DoseContribution(BaseModel):
    feature: str
    display_name: str
    value: float | None = Field(description="The patient's value (null = missing; the model's learned "
                                            "default branch was used)")
    unit: str
    source: str
    contribution: float = Field(description="Exact TreeSHAP value on the explanation's scale")
    direction: DoseDirection


class DoseExplanation(BaseModel):
    scale: str = Field(description="The scale the contributions add up on (the model's output before squaring)")
    base_value: float = Field(description="Expected model output over the training data")
    margin: float = Field(description="base_value + sum of contributions; dose_mg_week = margin squared "
                                      "(for a sqrt-scale model)")
    contributions: list[DoseContribution] = Field(description="Sorted by absolute size, largest first")


class PatientDose(BaseModel):
    patient_id: str
    model_dose: DoseEstimate
    iwpc_pharmacogenetic_dose: DoseEstimate | None = Field(
        description="The IWPC 2009 pharmacogenetic algorithm on the same inputs; null when the model's "
                    "features do not cover the algorithm's (see iwpc_unavailable_reason)")
    iwpc_unavailable_reason: str | None = None
    missing_features: list[str]
    explanation: DoseExplanation | None = Field(description="Exact contributions; null when abstaining")
    flags: list[Flag] = []
    abstained: bool = False
    abstain_reason: str | None = None


class DoseResponse(BaseModel):
    request_id: str
    model: str
    version: str
    alias: str
    task: Literal["dose_regression"] = "dose_regression"
    outcome: str = Field(description="What is predicted, e.g. weekly_dose_mg (stable dose at target INR 2-3)")
    unit: Literal["mg/week"] = "mg/week"
    dose_bands_mg_week: tuple[float, float] = Field(description="low (<=) and high (>=) band limits")
    caveat: str
    predictions: list[PatientDose]


Strategy = Literal["iwpc_pharmacogenetic", "iwpc_clinical", "fixed_35mg_week"]


class DoseStrategy(BaseModel):
    """One way to choose the starting dose, labelled with who computes it, set against the model's dose."""

    strategy: Strategy
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
