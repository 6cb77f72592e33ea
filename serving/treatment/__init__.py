"""Serving treatment-response models (task ``treatment_response``): found by ``serving.task.served_tasks``
via ``TASK``. ``interval_method`` is re-exported for callers that describe an ensemble's interval."""

from serving.treatment.compare import interval_method
from serving.treatment.task import TreatmentTask

TASK = TreatmentTask()
__all__ = ["TASK", "interval_method"]
