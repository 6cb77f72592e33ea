"""Treatment response (``task: treatment_response``): antiplatelet_response on a randomised trial."""

from training.treatment.task import TASK

__all__ = ["TASK"]
