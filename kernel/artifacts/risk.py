"""A disease-risk model's artifact: a calibrated probability of the target within ``horizon_years``."""

from __future__ import annotations

from typing import ClassVar, Literal

from kernel.artifact import Artifact


class RiskArtifact(Artifact):
    TASK: ClassVar[str] = "risk_classification"
    task: Literal["risk_classification"] = "risk_classification"
