"""What a served version is, and what serving does with its kind: ``ServedModel`` (one version and everything
built for it at load), ``ServedTask`` (one per artifact ``task``, in its own subpackage) and ``Call`` (one
API call about a batch of patients, which a task answers).

A task builds the per-version state once, when a version is loaded (``prepare``): it is held by the
``ServedModel`` and swapped with it, so two served models, or two versions of one, never share or evict it.
A task never sees the HTTP request, only the ``Call``: the patients, and ``Call.commit``, through which it
hands back its audit records so no number leaves before its record is durable.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from fastapi import Request
from pydantic import BaseModel

from kernel.artifact import Artifact, ArtifactFeature
from kernel.bundle import Bundle
from serving.audit import AuditLog
from serving.auth import Caller
from serving.call import ANSWER_WITHHELD, PREDICTION_WITHHELD, audit_record, check_batch, commit, validated_rows
from serving.explain import Explainer
from serving.metrics import ServingMetrics
from serving.schemas import PatientIn, WhatIfResponse


class TaskRefusal(Exception):
    """A bundle that does not fit its task's contract (a dose model with a risk calibrator, say)."""


class NotAnswered(Exception):
    """The task does not answer this route (the route turns it into a 404 naming what it does answer)."""


@dataclass(frozen=True)
class PageSection:
    """How the clinician page serves one task: its template, its form, its answer and what the page shows."""

    template: str
    submit_label: str
    answer: Callable[[ServedModel, str, np.ndarray], BaseModel]
    context: Callable[[ServedModel, Any], dict[str, Any]]
    audit_kind: str | None = None  # None: the risk page's records, as before kinds existed
    audit_fields: Callable[[Any], dict[str, Any]] = lambda answer: {}  # noqa: ARG005 (none by default)


class ServedTask(ABC):
    """What serving does with one kind of model. Subclasses set ``name`` to the artifact's ``task`` value."""

    name: ClassVar[str]
    rank: ClassVar[int] = 100  # where its predict body comes in the route's documented union
    compare_rank: ClassVar[int] = 100  # where its compare-treatments body comes in that route's union
    predict_response: ClassVar[type[BaseModel] | None] = None  # None: predict does not answer this kind
    compare_response: ClassVar[type[BaseModel] | None] = None  # None: no compare-treatments
    what_if: ClassVar[bool] = False  # re-scores changed modifiable factors (associational)
    what_if_response: ClassVar[type[BaseModel]] = WhatIfResponse  # its what-if body (a survival model's adds more)
    page: ClassVar[PageSection | None] = None  # None: the JSON API only

    def check(self, bundle: Bundle) -> None:  # noqa: B027 (optional: most tasks accept any bundle of their kind)
        """Refuse, at load, a bundle this task cannot serve correctly (raise ``TaskRefusal``)."""

    def prepare(self, name: str, bundle: Bundle, request_model: type[BaseModel]) -> object:  # noqa: ARG002
        """The per-version state answers need (built once at load, held by the ``ServedModel``)."""
        return None

    @abstractmethod
    def explanation_scale(self, model: ServedModel) -> str:
        """The scale its explanations are on, as ``GET /v1/models/{name}`` names it."""

    def predict(self, model: ServedModel, call: Call, explain: bool) -> BaseModel:  # noqa: ARG002
        """The predict answer, audited before it is returned; ``NotAnswered`` where the task has none."""
        raise NotAnswered

    def compare(self, model: ServedModel, call: Call) -> BaseModel:  # noqa: ARG002
        """The compare-treatments answer, audited before it is returned; ``NotAnswered`` where none."""
        raise NotAnswered

    def re_scored(self, model: ServedModel, answer: WhatIfResponse, rows: np.ndarray) -> BaseModel:  # noqa: ARG002
        """What-if's answer from the route's (risk now and if changed, already audited) and ``rows`` (the
        patient as sent, then changed); the route's own unless the task adds to it."""
        return answer

    def form_fields(self, model: ServedModel) -> tuple[list[Any], type[BaseModel]]:
        """The features a caller sends (form or request) and the request model validating them."""
        return model.features, model.request_model

    def form_errors(self, model: ServedModel, row: np.ndarray) -> dict[str, str]:  # noqa: ARG002
        """Values each in range but impossible together, by field (none unless the task says so)."""
        return {}


@dataclass(frozen=True)
class ServedModel:
    """One served version and everything built for it at load, swapped as one object on reload.

    ``task`` answers for it (a dose is never returned as a risk, nor a risk as a dose); ``explainer``
    holds its TreeSHAP tables and ``state`` what its task built once (``ServedTask.prepare``), so no
    module-level cache is shared, or evicted, between models or versions.
    """

    name: str
    version: str
    alias: str
    bundle: Bundle
    request_model: type[BaseModel]
    task: ServedTask
    explainer: Explainer
    state: object = None

    @property
    def spec(self) -> Artifact:
        return self.bundle.spec

    @property
    def features(self) -> list[ArtifactFeature]:
        return self.bundle.spec.features


@dataclass
class Call:
    """One API call about a batch of patients: who asks, the patients, and where its records go."""

    caller: Caller
    audit: AuditLog
    metrics: ServingMetrics
    shadow: ServedModel | None  # the version scored beside the served one (PMED_SHADOW_ALIAS), if any
    patients: list[PatientIn]
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def of(cls, request: Request, patients: list[PatientIn], caller: Caller, audit: AuditLog,
           metrics: ServingMetrics, shadow: ServedModel | None = None) -> Call:
        check_batch(request, len(patients))
        return cls(caller=caller, audit=audit, metrics=metrics, shadow=shadow, patients=patients)

    @property
    def patient_ids(self) -> list[str]:
        return [p.patient_id for p in self.patients]

    def rows(self, names: list[str], request_model: type[BaseModel]) -> np.ndarray:
        return validated_rows([p.features for p in self.patients], names, request_model)

    def record(self, model: ServedModel, patient_id: str, **fields: Any) -> dict[str, Any]:
        return audit_record(self.audit, self.caller, model, self.request_id, patient_id, **fields)

    def commit(self, records: list[dict[str, Any]], withheld: str = ANSWER_WITHHELD) -> None:
        commit(self.audit, self.metrics, records, withheld)

    def commit_predictions(self, model: ServedModel, records: list[dict[str, Any]]) -> None:
        """Predict's records: withheld as a prediction, and counted per served version once written."""
        self.commit(records, PREDICTION_WITHHELD)
        self.metrics.patients.labels(model.name, model.version).inc(len(records))
