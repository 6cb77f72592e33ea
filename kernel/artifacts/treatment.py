"""A treatment-response model's artifact: the outcome under each arm and the effect with its interval.

The booster is an S-learner (the treatment column is one more feature); the bundle's extra files hold
the bootstrap ensemble (``kernel.effect_model``).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from kernel.artifact import Artifact


class TreatmentInfo(BaseModel):
    """Which column is the treatment, its arms (reference first) and how the interval was made."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    feature: str
    arms: list[str]
    reference: str
    effect: str
    learner: str
    outcome: Literal["binary", "continuous"] = "binary"
    interval_k: float = 1.0
    interval_c: float = 0.0
    simulated: bool = True

    @property
    def candidate(self) -> str:
        """The compared arm (two-arm trials; the effect is candidate minus reference)."""
        return next(a for a in self.arms if a != self.reference)


class TreatmentArtifact(Artifact):
    TASK: ClassVar[str] = "treatment_response"
    task: Literal["treatment_response"] = "treatment_response"
    treatment: TreatmentInfo

    @property
    def covariates(self) -> list[str]:
        """What a caller sends: every feature but the treatment column (each arm is scored)."""
        return [f.name for f in self.features if f.name != self.treatment.feature]
