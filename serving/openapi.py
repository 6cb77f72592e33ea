"""The OpenAPI document a client can be generated from (Swagger UI and ReDoc read it: ``serving.api_docs``).

FastAPI's own document describes the generic routes: ``POST /v1/models/{name}/predict`` takes any dict of
features. On top of it this adds, for each served version, operations on concrete paths
(``/v1/models/cad_risk/predict``, ``.../what-if``, ``.../compare-treatments`` where its task answers them)
whose bodies are that version's own schemas (``CadRiskPredictionRequest`` -> ``CadRiskFeatures``): every
feature with its display name and unit, range, whether it is required, and an example. The feature schema
is the served request model's own JSON schema (what the handler validates against), described from the
bundle's feature spec, so the document cannot promise what validation refuses.

The concrete paths document the generic handlers: a request to one is routed to ``/v1/models/{name}/...``,
so the route table, the role checks and the start-up guard are the same as without them. Model names are
an enum (``ModelName``) of the models this server serves. The document is rebuilt whenever the set of
served versions changes (a reload swapped one in), and cached in between: nothing has to call in.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI
from pydantic import BaseModel

from kernel.artifact import ArtifactFeature
from kernel.values import as_written, coded_as
from serving.registry import ModelStore, ServedModel

Schema = dict[str, Any]
REF = "#/components/schemas/"
WHOLE_KINDS = ("binary", "count")  # validated as whole numbers: integers for a generated client


def install_openapi(app: FastAPI, store: ModelStore, max_patients: int) -> None:
    """Serve FastAPI's document plus each served version's typed operations at ``app.openapi_url``."""
    app.openapi = ServedDocument(app, store, max_patients)  # type: ignore[method-assign]


class ServedDocument:
    """``app.openapi``: rebuilt when the served (name, version, request model) set changes, else cached."""

    def __init__(self, app: FastAPI, store: ModelStore, max_patients: int) -> None:
        self._app, self._store, self._max_patients = app, store, max_patients
        self._base: Schema | None = None
        self._key: Hashable = None
        self._document: Schema | None = None

    def __call__(self) -> Schema:
        models = self._store.all()
        key = (tuple(self._store.expected), tuple((m.name, m.version, m.request_model) for m in models))
        if self._document is None or key != self._key:
            if self._base is None:  # routes are all in by the first request; FastAPI's part is built once
                self._base = FastAPI.openapi(self._app)
            self._document = served_document(self._base, self._store.expected, models, self._max_patients)
            self._key = key
            self._app.openapi_schema = self._document
        return self._document


def served_document(base: Schema, names: list[str], models: list[ServedModel], max_patients: int) -> Schema:
    """``base`` (not changed) with a ``ModelName`` enum and each model's typed operations."""
    doc = copy.deepcopy(base)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    patient_id = schemas.get("PatientIn", {}).get("properties", {}).get("patient_id",
                                                                           {"type": "string", "minLength": 1})
    if names:
        schemas["ModelName"] = {"type": "string", "enum": list(names), "title": "ModelName",
                                "description": "A model this server serves"}
        _name_enum(doc["paths"])
    for model in models:
        for action, body in BodyBuilder(model, patient_id, max_patients).bodies().items():
            generic = doc["paths"].get(f"/v1/models/{{name}}/{action}", {}).get("post")
            if generic is not None:
                schemas.update(body.schemas)
                doc["paths"][f"/v1/models/{quote(model.name, safe='')}/{action}"] = {
                    "post": _operation(generic, model, action, body)}
    doc["tags"] = [*doc.get("tags", []), *({"name": m.name, "description": _model_text(m)} for m in models)]
    return doc


@dataclass(frozen=True)
class Body:
    """One typed request body: the schemas it adds to ``components``, its top schema's name, an example."""

    name: str
    schemas: dict[str, Schema]
    example: dict[str, Any]


@dataclass(frozen=True)
class Sent:
    """What a route of one model takes per patient: feature definitions and the request model validating them."""

    features: list[ArtifactFeature]
    request_model: type[BaseModel]


class BodyBuilder:
    """The typed bodies of one served model's routes, named after it (``CadRisk...``)."""

    def __init__(self, model: ServedModel, patient_id: Schema, max_patients: int) -> None:
        self.model, self.prefix = model, pascal(model.name)
        self.patient_id, self.max_patients = patient_id, max_patients

    def bodies(self) -> dict[str, Body]:
        """action -> the body of each route the model's task answers (predict, what-if, compare-treatments)."""
        found = {}
        for action, sent in answered(self.model).items():
            if action == "what-if":
                if changes := [f for f in sent.features if f.modifiable]:
                    found[action] = self.what_if(self.patients("Prediction", sent), changes)
            else:
                found[action] = self.patients("Prediction" if action == "predict" else "Compare", sent)
        return found

    def patients(self, role: str, sent: Sent) -> Body:
        """``{patients: [{patient_id, features}]}``; ``Covariates`` where fewer than all features are sent."""
        every = sent.request_model is self.model.request_model
        patient, values = [f"{self.prefix}{n}" for n in (("Patient", "Features") if every
                                                        else ("CovariatePatient", "Covariates"))]
        patient_schema = _object(patient, {"patient_id": self.patient_id, "features": {"$ref": REF + values}})
        request = _object(f"{self.prefix}{role}Request", {"patients": {
            "type": "array", "items": {"$ref": REF + patient}, "minItems": 1, "maxItems": self.max_patients}})
        example = {f.name: _typed(f, f.example) for f in sent.features if f.example is not None}
        return Body(request["title"], {values: features_schema(sent.request_model, sent.features, values),
                                       patient: patient_schema, request["title"]: request},
                    {"patients": [{"patient_id": "patient-1", "features": example}]})

    def what_if(self, patients: Body, changes: list[ArtifactFeature]) -> Body:
        """``{patient, changes}``: the changes are the model's modifiable factors only, at least one."""
        properties = patients.schemas[f"{self.prefix}Features"]["properties"]
        changed = _object(f"{self.prefix}WhatIfChanges", {f.name: _no_default(properties[f.name])
                                                          for f in changes}, required=[])
        changed.update(minProperties=1, description="Modifiable factor -> its new value (an associational "
                                                    "re-score; age, sex and genotype cannot change)")
        request = _object(f"{self.prefix}WhatIfRequest", {"patient": {"$ref": REF + f"{self.prefix}Patient"},
                                                          "changes": {"$ref": REF + changed["title"]}})
        first = changes[0]
        value = first.min if first.example is None else first.example
        example = {"patient": patients.example["patients"][0], "changes": {first.name: _typed(first, value)}}
        schemas = {k: v for k, v in patients.schemas.items() if k != patients.name}
        return Body(request["title"], {**schemas, changed["title"]: changed, request["title"]: request}, example)


def answered(model: ServedModel) -> dict[str, Sent]:
    """The routes the model's task answers, each with what it takes per patient."""
    every = Sent(model.features, model.request_model)
    task = model.task
    found = {"predict": every} if task.predict_response is not None else {}
    if task.what_if:
        found["what-if"] = every
    if task.compare_response is not None:
        features, request_model = task.form_fields(model)
        found["compare-treatments"] = Sent(features, request_model)
    return found


def _object(title: str, properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    return {"type": "object", "title": title, "additionalProperties": False, "properties": properties,
            "required": list(properties) if required is None else required}


def _no_default(prop: Schema) -> Schema:
    return {k: v for k, v in prop.items() if k != "default"}


def _typed(feature: ArtifactFeature, value: float) -> float | int | str:
    """The artifact's number as a request writes it: an integer for a whole kind, a coded feature's code."""
    return as_written(feature, value)


def features_schema(request_model: type[BaseModel], features: list[ArtifactFeature], title: str) -> Schema:
    """The request model's JSON schema, each property described by its feature: name and unit, an example."""
    schema = request_model.model_json_schema()
    schema["title"] = title
    by_name = {f.name: f for f in features}
    for name, prop in schema["properties"].items():
        _describe(prop, by_name[name])
    return schema


def _describe(prop: Schema, feature: ArtifactFeature) -> None:
    whole = feature.kind in WHOLE_KINDS
    missing = "" if feature.required else "; not recorded: omit it or send null"
    codes = coded_as(feature)
    what = f"one of {', '.join(codes)}, as written in the training table" if codes is not None else feature.unit
    prop["title"] = feature.display_name
    prop["description"] = f"{feature.display_name} ({what}){missing}"
    prop["x-unit"] = feature.unit
    prop["x-source"] = feature.source
    if feature.loinc:
        prop["x-loinc"] = feature.loinc
    if feature.example is not None:
        prop["examples"] = [_typed(feature, feature.example)]
    for number in [prop, *prop.get("anyOf", [])]:
        if number.get("type") == "number" and whole:
            number["type"] = "integer"


def _operation(generic: Schema, model: ServedModel, action: str, body: Body) -> Schema:
    """The generic operation on the model's own path: its typed body, no ``name`` parameter, one answer type."""
    op = copy.deepcopy(generic)
    op["operationId"] = f"{action.replace('-', '_')}_{snake(model.name)}"
    op["summary"] = f"{action.replace('-', ' ').capitalize()}: {model.name}"
    op["description"] = f"{generic.get('description', '')}\n\n{_model_text(model)}".strip()
    op["tags"] = [model.name]
    params = [p for p in op.get("parameters", []) if not (p.get("in") == "path" and p.get("name") == "name")]
    op.pop("parameters", None)
    if params:
        op["parameters"] = params
    op["requestBody"] = {"required": True, "content": {"application/json": {
        "schema": {"$ref": REF + body.name}, "example": body.example}}}
    _narrow_answer(op, _answer_name(model, action))
    return op


def _answer_name(model: ServedModel, action: str) -> str | None:
    answer = {"predict": model.task.predict_response, "compare-treatments": model.task.compare_response,
              "what-if": getattr(model.task, "what_if_response", None)}.get(action)  # a survival model's own
    return answer.__name__ if answer is not None else None


def _narrow_answer(op: Schema, name: str | None) -> None:
    """A union of the tasks' answers narrowed to this model's (a risk model never answers a dose)."""
    content = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
    union = content.get("schema", {}).get("anyOf", [])
    if name and {"$ref": REF + name} in union:
        content["schema"] = {"$ref": REF + name}


def _name_enum(paths: dict[str, Schema]) -> None:
    for operations in paths.values():
        for op in operations.values():
            for param in op.get("parameters", []):
                if param.get("in") == "path" and param.get("name") == "name":
                    param["schema"] = {"$ref": REF + "ModelName"}


def _model_text(model: ServedModel) -> str:
    return f"{model.spec.description.strip()} {model.spec.intended_use.strip()} Served version {model.version}."


def pascal(name: str) -> str:
    """``cad_risk`` -> ``CadRisk``: schema names a generator turns into class names."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^0-9A-Za-z]+", name) if part)


def snake(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", name).strip("_").lower()

