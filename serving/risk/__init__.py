"""Serving risk models (task ``risk_classification``): found by ``serving.task.served_tasks`` via ``TASK``."""

from serving.risk.task import RiskTask

TASK = RiskTask()
