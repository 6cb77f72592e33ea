"""Serving regression models (task ``dose_regression``): found by ``serving.task.served_tasks`` via ``TASK``."""

from serving.regression.task import RegressionTask

TASK = RegressionTask()
