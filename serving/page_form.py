"""The clinician page's patient form: fields built from the model's artifact, and posted values read
back through the same request model the JSON API validates with (same names, units, ranges and codes). A
categorical feature (and a binary with declared codes) is a select of its codes as written in the table."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from kernel.artifact import ArtifactFeature
from kernel.values import coded_as
from serving.feature_text import binary_labels
from serving.validation import to_row

SOURCE_TITLES = {"demographic": "Demographics", "ehr": "Clinical record", "lifestyle": "Lifestyle",
                 "genetic": "Genetics", "other": "Other"}
PREFIX = "f_"
_CODE = re.compile(r"(\d+) = ([^,]+)")
_PARENTHESIS = re.compile(r"\s*\(.*\)\s*$")


def form_groups(features: list[ArtifactFeature]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Fields grouped by source, in the order a clinician takes a history."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for feature in features:
        groups.setdefault(feature.source, []).append(_field(feature))
    order = [*SOURCE_TITLES, *(s for s in groups if s not in SOURCE_TITLES)]
    return [(SOURCE_TITLES.get(s, s.title()), groups[s]) for s in order if s in groups]


def _field(feature: ArtifactFeature) -> dict[str, Any]:
    """What the form template reads: the feature's fields, its options (coded or binary) or its unit."""
    labels = binary_labels(feature)
    written = coded_as(feature)  # a categorical's levels or a binary's codes, as written in the table
    codes = ([(c, c) for c in written] if written is not None else [("1", labels[0]), ("0", labels[1])] if labels
             else coded_options(feature))
    options = [("", "select" if feature.required else "not recorded"), *codes] if codes else None
    return {**feature.model_dump(mode="json"), "options": options, "unit_label": None if options else feature.unit}


def coded_options(feature: ArtifactFeature) -> list[tuple[str, str]] | None:
    """[('0', 'poor metabolizer'), ...] from a coded count's unit '0 = poor metabolizer, 1 = ... (CPIC)'."""
    if feature.kind != "count":
        return None
    unit = _PARENTHESIS.sub("", feature.unit)
    pairs = _CODE.findall(unit)
    return pairs if len(pairs) >= 2 and ", ".join(f"{k} = {v}" for k, v in pairs) == unit.strip() else None


def read_form(features: list[ArtifactFeature], request_model: type[BaseModel], form: Mapping[str, object]
              ) -> tuple[dict[str, str], np.ndarray | None, dict[str, str]]:
    """(the raw values to show again, the row of ``features`` or None, errors by field name), validated by
    ``request_model``, the same one the JSON API uses for these fields."""
    raw = {f.name: str(form.get(PREFIX + f.name, "")).strip() for f in features}
    written = {f.name for f in features if coded_as(f) is not None}  # taken as written: the level's text
    numbers: dict[str, float | str | None] = {}
    errors: dict[str, str] = {}
    for name, text in raw.items():
        if not text or name in written:
            numbers[name] = text or None
            continue
        try:
            number = float(text)
        except ValueError:
            errors[name] = "must be a number"
            continue
        numbers[name] = number
        if not math.isfinite(number):
            errors[name] = "must be a finite number"
    if errors:
        return raw, None, errors
    try:
        validated = request_model.model_validate(numbers)
    except ValidationError as exc:
        return raw, None, {str(e["loc"][0]): _message(e) for e in exc.errors() if e["loc"]}
    return raw, to_row(validated, [f.name for f in features]), {}


def _message(error: ErrorDetails) -> str:
    if error["type"] == "missing" or (error["type"] == "float_type" and error.get("input") is None):
        return "required"
    return str(error["msg"]).removeprefix("Value error, ")
