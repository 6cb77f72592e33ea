"""A trial as a spec (``task: treatment_effect``): any randomised trial's own table, arms and outcome."""

from training.effect.task import TASK

__all__ = ["TASK"]
