"""The per-task parts of a model spec: a dose model's settings and gates, a treatment model's arms, learner and
gates (as data). ``training.spec.ModelSpec`` holds them under ``dose``, ``treatment`` and ``gates``; each task
checks its own part (``Task.check_spec``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DoseGates(Strict):
    """Promotion gates of a dose model, checked on the pooled site-held-out predictions (mg/week)."""

    max_mae: float = Field(15.0, gt=0, description="mean absolute error, mg/week")
    min_pw20: float = Field(0.0, ge=0, le=100, description="% of patients predicted within 20% of their dose")
    min_r2: float = Field(-1.0, le=1)
    min_test_patients: int = Field(100, ge=1)
    max_mae_vs_baseline: float | None = Field(
        None, description="the model's MAE may exceed the IWPC pharmacogenetic algorithm's by at most this "
                          "(mg/week) on the same patients; null disables")
    min_interval_coverage: float = Field(0.0, ge=0, le=1, description="share of held-out doses inside the "
                                                                       "prediction interval")


class DoseModel(Strict):
    """How a dose model is fitted and what its interval means (``task: dose_regression`` only)."""

    objective: Literal["reg:squarederror", "reg:absoluteerror"] = "reg:absoluteerror"
    target_transform: Literal["none", "sqrt"] = Field("sqrt", description="fit on sqrt(dose) as IWPC did; "
                                                                           "predictions are squared back")
    interval_coverage: float = Field(0.9, gt=0, lt=1, description="split-conformal prediction interval level")
    bands: tuple[float, float] = Field((21.0, 49.0), description="low (<=) and high (>=) dose bands, mg/week")


class GateRule(Strict):
    """One promotion gate as data: ``value`` (a metric) is reported, ``check`` (default: the same metric) is
    compared by ``op`` with ``threshold`` or with another metric, ``versus``."""

    name: str
    rule: str = Field(description="the rule in words, as reported beside the gate")
    value: str
    check: str | None = None
    op: Literal[">=", "<=", ">", "<"]
    threshold: float | None = None
    versus: str | None = None

    @model_validator(mode="after")
    def _one_reference(self) -> GateRule:
        if (self.threshold is None) == (self.versus is None):
            raise ValueError(f"gate {self.name}: give exactly one of threshold or versus")
        return self


class TreatmentGates(Strict):
    """A treatment model's gates: against the truth on a simulated trial, what randomisation supports on a real one."""

    simulated: list[GateRule] = Field(min_length=1)
    real: list[GateRule] = Field(min_length=1)


class LearnerSpec(Strict):
    """The S-learner ensemble's boosting settings (``kernel.effect_model.LearnerParams``)."""

    max_depth: int = Field(3, ge=1, le=12)
    eta: float = Field(0.05, gt=0, le=1)
    rounds: int = Field(300, ge=1)
    subsample: float = Field(0.8, gt=0, le=1)
    min_child_weight: float = Field(20.0, ge=0)
    n_bootstrap: int = Field(25, ge=2, le=1000, description="bootstrap boosters behind the effect's interval")
    seed: int = 0
    nthread: int = Field(1, ge=0)


class TreatmentPart(Strict):
    """Which column holds the arm, the arms (``reference`` first; effects are compared minus reference), the
    outcome and the learner (``task: treatment_response`` only)."""

    column: str = Field("arm", description="the trial column naming each patient's arm")
    feature: str = Field("treated", description="the model's treatment indicator (1 = compared arm)")
    reference: str
    compared: str
    outcome: Literal["binary", "continuous"] = "binary"
    learner: LearnerSpec = LearnerSpec()
    simulated_intended_use: str = Field(description="intended use stated when the trial was simulated")
