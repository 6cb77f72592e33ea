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
    outcome: Literal["binary", "continuous", "time_to_event"] = "binary"
    interval_k: float = 1.0
    interval_c: float = 0.0
    simulated: bool = True
    arm_features: list[str] = []  # one indicator per compared arm, in ``arms`` order; empty: [feature] (two arms)
    randomised: bool = True
    horizon_days: float | None = None  # time-to-event: the outcome is the risk by this day
    outcome_label: str = ""  # the outcome in words ("death by day 180"); empty: the spec's target
    interval_text: str = ""  # how the interval was made and what it guarantees (empty: the bootstrap's wording)
    guideline: Literal["cpic_cyp2c19", "none"] = "cpic_cyp2c19"  # the guideline shown beside the model's rule
    lower_is_better: bool = True  # events, risks, platelet reactivity: less is better

    @property
    def candidate(self) -> str:
        """The first compared arm (the effect is candidate minus reference)."""
        return next(a for a in self.arms if a != self.reference)

    @property
    def compared(self) -> list[str]:
        """Every compared arm, in the model's arm order (arm 1, 2, ...)."""
        return [a for a in self.arms if a != self.reference]

    @property
    def indicators(self) -> list[str]:
        """The model's arm indicator features (one per compared arm)."""
        return self.arm_features or [self.feature]


class TreatmentArtifact(Artifact):
    TASK: ClassVar[str] = "treatment_response"
    task: Literal["treatment_response"] = "treatment_response"
    treatment: TreatmentInfo

    @property
    def covariates(self) -> list[str]:
        """What a caller sends: every feature but the arm indicators (each arm is scored)."""
        return [f.name for f in self.features if f.name not in self.treatment.indicators]
