"""Shadow scoring: the shadow alias (e.g. ``challenger``) sees the same patients as the served model.

Its risk goes to the audit record (beside the served risk, under the patient's pseudonym, so the two
can be compared once outcomes are known) and to ``/metrics``; it is never returned to the caller. It
costs one margin prediction (no explanation) and can never fail or slow the answer beyond that: any
problem is counted and logged by type only.
"""

from __future__ import annotations

import logging

import numpy as np
from pydantic import ValidationError

from serving.metrics import ServingMetrics
from serving.schemas import PatientIn
from serving.served import ServedModel
from serving.validation import to_row

log = logging.getLogger("pmed.serving")


def score_shadow(shadow: ServedModel | None, served: ServedModel, patients: list[PatientIn], risks: np.ndarray,
                 metrics: ServingMetrics) -> list[dict[str, object]]:
    """Per patient, the audit fields of the shadow comparison ({} when no shadow is served)."""
    if shadow is None or shadow.version == served.version:
        return [{} for _ in patients]
    counter = metrics.shadow.labels(served.name, served.version, shadow.alias, shadow.version, "scored")
    rows, usable = [], []
    for i, patient in enumerate(patients):
        try:
            rows.append(to_row(shadow.request_model.model_validate(patient.features), shadow.bundle.feature_names))
            usable.append(i)
        except ValidationError:  # the shadow may use other features: compare where it can
            metrics.shadow.labels(served.name, served.version, shadow.alias, shadow.version, "invalid_input").inc()
    fields: list[dict[str, object]] = [{"shadow": {"alias": shadow.alias, "version": shadow.version,
                                                   "result": "invalid_input"}} for _ in patients]
    if not rows:
        return fields
    try:
        shadow_risk = shadow.bundle.risk(np.vstack(rows))
    except Exception as exc:  # noqa: BLE001 (the shadow must never break the served answer)
        log.warning("shadow %s version %s failed: %s", shadow.name, shadow.version, type(exc).__name__)
        metrics.shadow.labels(served.name, served.version, shadow.alias, shadow.version, "error").inc(len(rows))
        return [{"shadow": {"alias": shadow.alias, "version": shadow.version, "result": "error"}} for _ in patients]
    delta = metrics.shadow_delta.labels(served.name, served.version, shadow.version)
    for i, risk in zip(usable, shadow_risk, strict=True):
        fields[i] = {"shadow": {"alias": shadow.alias, "version": shadow.version, "result": "scored",
                                "risk": round(float(risk), 6), "served_risk": round(float(risks[i]), 6)}}
        delta.observe(abs(float(risk) - float(risks[i])))
    counter.inc(len(rows))
    return fields
