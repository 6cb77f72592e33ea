"""Risk classification (``task: risk_classification``): cad_risk, t2d_risk and a user's own risk tables."""

from training.risk.task import TASK

__all__ = ["TASK"]
