"""What every answering route does the same way, written once: the batch limit, validated rows with
errors that never echo a value, the audit record, and audit-before-answer (503 when it cannot be written).

``serving.served.Call`` puts these together for one call; the what-if route and the clinician page use
them directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from fastapi import HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from serving.audit import AuditError, AuditLog
from serving.auth import Caller
from serving.metrics import ServingMetrics
from serving.validation import safe_errors, to_row

PREDICTION_WITHHELD = "prediction withheld: the audit log cannot be written"
ANSWER_WITHHELD = "answer withheld: the audit log cannot be written"


class Version(Protocol):
    """What an audit record names of the version that answered (a ``ServedModel``)."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def alias(self) -> str: ...


def check_batch(request: Request, n: int) -> None:
    """Refuse more patients than ``PMED_MAX_BATCH_PATIENTS`` in one request (422 on ``patients``)."""
    limit = request.app.state.settings.max_batch_patients
    if n > limit:
        raise RequestValidationError([{"loc": ["body", "patients"], "type": "too_long",
                                       "msg": f"at most {limit} patients per request"}])


def validated_rows(payloads: Sequence[dict[str, Any]], names: list[str], request_model: type[BaseModel],
                   where: tuple[str | int, ...] = ("body", "patients")) -> np.ndarray:
    """Rows in ``names`` order, validated by the served version's request model (built once, at load);
    every patient's errors together, located at ``where + (i, "features")``, without the values."""
    rows, errors = [], []
    for i, payload in enumerate(payloads):
        try:
            rows.append(to_row(request_model.model_validate(payload), names))
        except ValidationError as exc:
            errors.extend(safe_errors(exc, (*where, i, "features")))
    if errors:
        raise RequestValidationError(errors)
    return np.vstack(rows)


def audit_record(audit: AuditLog, caller: Caller, model: Version, request_id: str, patient_id: str,
                 **fields: Any) -> dict[str, Any]:
    """One audit line: who asked, which version answered, the patient's pseudonym (never the id), then
    ``fields`` in the order given (outcome, kind, ...)."""
    return {"request_id": request_id, "key_id": caller.key_id, "role": caller.role, "model": model.name,
            "version": model.version, "alias": model.alias, "patient_key": audit.pseudonym(patient_id), **fields}




def commit(audit: AuditLog, metrics: ServingMetrics, records: list[dict[str, Any]],
           withheld: str = ANSWER_WITHHELD) -> None:
    """Write the records durably before any number leaves; 503 (and a counted failure) when it cannot."""
    try:
        audit.record(records)
    except AuditError as exc:
        metrics.audit_failures.inc()
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, withheld) from exc
