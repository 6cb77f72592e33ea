"""Survival (``task: survival``): the risk of an event by a horizon, from follow-up times with censoring."""

from training.survival.task import TASK

__all__ = ["TASK"]
