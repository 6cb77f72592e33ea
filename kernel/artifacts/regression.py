"""A regression model's artifact (a dose, for instance): a value in ``unit`` with a split-conformal interval.

``task: dose_regression`` is the name registered versions carry; the calibrator (``dose_interval``) squares
the margin back when ``target_transform`` is ``sqrt`` and holds the interval.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from kernel.artifact import Artifact


class RegressionArtifact(Artifact):
    TASK: ClassVar[str] = "dose_regression"
    task: Literal["dose_regression"] = "dose_regression"
    unit: str = "mg/week"
    interval_coverage: float = 0.9
    target_transform: Literal["none", "sqrt"] = "sqrt"
