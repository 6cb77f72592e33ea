"""The clinician page's answer, whatever the task: the task's own page section computes it (the same
function the JSON API answers with), and it is audit-logged durably before it is shown, so an unwritable
audit log means no answer (AuditError)."""

from __future__ import annotations

import numpy as np
from fastapi import HTTPException, status
from pydantic import BaseModel

from serving.audit import AuditLog
from serving.auth import Caller
from serving.call import audit_record
from serving.served import PageSection, ServedModel


def page_section(model: ServedModel) -> PageSection:
    """The page section of the model's task; 404 for a task the page does not show (the API does)."""
    section = model.task.page
    if section is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            f"the clinician page shows risk, survival, treatment-response and dose models; "
                            f"{model.name} is a {model.spec.task.replace('_', ' ')} model: use the JSON API")
    return section


def answer_and_audit(audit: AuditLog, caller: Caller, model: ServedModel, patient_ref: str, row: np.ndarray,
                     request_id: str) -> BaseModel:
    """The answer, once its audit record is durable; AuditError (and no answer) otherwise."""
    section = page_section(model)
    result = section.answer(model, patient_ref, row)
    record = audit_record(audit, caller, model, request_id, patient_ref, channel="clinician_page",
                          outcome="abstained" if getattr(result, "abstained", False) else "predicted")
    if section.audit_kind:
        record["kind"] = section.audit_kind
    audit.record([record | section.audit_fields(result)])
    return result
