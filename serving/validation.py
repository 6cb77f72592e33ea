"""Request validation built from a model's artifact: the same names, units and ranges as training.

Errors name the field and the rule but never repeat the submitted value (it may be patient data).
"""

from __future__ import annotations

import math
from typing import Annotated, Any

import numpy as np
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, create_model

from kernel.artifact import ArtifactFeature


def _whole_number(value: float | None) -> float | None:
    if value is not None and not float(value).is_integer():
        raise ValueError("must be a whole number")
    return value


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


def features_model(model_name: str, features: list[ArtifactFeature]) -> type[BaseModel]:
    """A pydantic model accepting exactly the model's features, each within its registry range."""
    fields: dict[str, Any] = {}
    for f in features:
        checks = [AfterValidator(_finite)]
        if f.kind in ("binary", "count"):
            checks.append(AfterValidator(_whole_number))
        if f.required:
            fields[f.name] = (Annotated[float, Field(strict=True, ge=f.min, le=f.max), *checks], ...)
        else:
            fields[f.name] = (Annotated[float | None, Field(strict=True, ge=f.min, le=f.max), *checks], None)
    config = ConfigDict(extra="forbid", allow_inf_nan=False)
    return create_model(f"{model_name}_features", __config__=config, **fields)


def to_row(validated: BaseModel, names: list[str]) -> np.ndarray:
    """One feature row in model order; a missing (None) value becomes NaN, XGBoost's missing marker."""
    values = validated.__dict__  # the validated fields themselves (model_dump would copy them first)
    return np.array([np.nan if values[n] is None else float(values[n]) for n in names], dtype=np.float64)


def safe_errors(exc: ValidationError, prefix: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """Pydantic errors without the submitted input, with locations relative to the request body."""
    return [{"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
