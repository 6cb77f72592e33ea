"""Serving survival models (task ``survival``): found by ``serving.task.served_tasks`` via ``TASK``."""

from serving.survival.task import SurvivalTask

TASK = SurvivalTask()
