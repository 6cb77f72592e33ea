"""Regression (``task: dose_regression``): warfarin_dose and a user's own dose tables."""

from training.regression.task import TASK

__all__ = ["TASK"]
