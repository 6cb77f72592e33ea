"""The clinician page's patient form: fields built from the model's feature spec, and posted values read
back through the same request model the JSON API validates with (same names, units and ranges)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import ValidationError

from serving.concepts import binary_labels
from serving.registry import ServedModel
from serving.validation import to_row

SOURCE_TITLES = {"demographic": "Demographics", "ehr": "Clinical record", "lifestyle": "Lifestyle",
                 "genetic": "Genetics", "other": "Other"}
PREFIX = "f_"


def form_groups(model: ServedModel) -> list[tuple[str, list[dict[str, Any]]]]:
    """Fields grouped by source, in the order a clinician takes a history."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for feature in model.features:
        groups.setdefault(feature["source"], []).append(_field(feature))
    order = [*SOURCE_TITLES, *(s for s in groups if s not in SOURCE_TITLES)]
    return [(SOURCE_TITLES.get(s, s.title()), groups[s]) for s in order if s in groups]


def _field(feature: dict[str, Any]) -> dict[str, Any]:
    labels = binary_labels(feature)
    options = None
    if labels:
        first = ("", "select" if feature["required"] else "not recorded")
        options = [first, ("1", labels[0]), ("0", labels[1])]
    return {**feature, "options": options, "unit_label": None if labels else feature["unit"]}


def read_form(model: ServedModel, form: dict[str, str]) -> tuple[dict[str, str], np.ndarray | None, dict[str, str]]:
    """(the raw values to show again, the feature row or None, errors by field name)."""
    raw = {f["name"]: str(form.get(PREFIX + f["name"], "")).strip() for f in model.features}
    numbers: dict[str, float | None] = {}
    errors: dict[str, str] = {}
    for name, text in raw.items():
        if not text:
            numbers[name] = None
            continue
        try:
            numbers[name] = float(text)
        except ValueError:
            errors[name] = "must be a number"
            continue
        if not math.isfinite(numbers[name]):
            errors[name] = "must be a finite number"
    if errors:
        return raw, None, errors
    try:
        validated = model.request_model.model_validate(numbers)
    except ValidationError as exc:
        return raw, None, {str(e["loc"][0]): _message(e) for e in exc.errors() if e["loc"]}
    return raw, to_row(validated, model.bundle.feature_names), {}


def _message(error: dict[str, Any]) -> str:
    if error["type"] == "missing" or (error["type"] == "float_type" and error.get("input") is None):
        return "required"
    return str(error["msg"]).removeprefix("Value error, ")
