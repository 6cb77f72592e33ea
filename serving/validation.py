"""Request validation built from a model's artifact: the same names, units, ranges and codes as training.

Every value goes through ``kernel.values.encode``, the rule training's table reader applies to the same
feature, so a value the table reader accepts is accepted here and one it refuses is refused here. A number
feature takes a JSON number (strict: no text, no booleans); a categorical feature takes one of its levels as
written in the table (text such as ``"adeno"``, or the numeric code) and a binary with declared codes one of
them; the validated field holds the number the model sees (the level's position), so ``to_row`` is the same for
every kind. The JSON schema says so: numbers with their ``minimum``/``maximum``, codes as an ``enum``.

Errors name the field and the rule but never repeat the submitted value (it may be patient data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    WithJsonSchema,
    create_model,
)
from pydantic_core import PydanticKnownError

from kernel.artifact import ArtifactFeature
from kernel.values import ValueRuleError, coded_as, encode, written_value

REQUIRED = "required"


def features_model(model_name: str, features: list[ArtifactFeature]) -> type[BaseModel]:
    """A pydantic model accepting exactly the model's features, each under its feature's value rules."""
    fields: dict[str, Any] = {f.name: _field(f) for f in features}
    config = ConfigDict(extra="forbid", allow_inf_nan=False)
    return create_model(f"{model_name}_features", __config__=config, **fields)


def _field(feature: ArtifactFeature) -> tuple[Any, Any]:
    codes = coded_as(feature)
    if codes is not None:
        enum = WithJsonSchema({"enum": [written_value(c) for c in codes]})
        if feature.required:  # null is taken, then refused by the rule, so the error says "required"
            return Annotated[StrictStr | StrictInt | StrictFloat | None, AfterValidator(_encoder(feature, True)),
                             enum], ...
        return Annotated[Annotated[StrictStr | StrictInt | StrictFloat, enum] | None,
                         AfterValidator(_encoder(feature, False))], None
    number_schema: dict[str, Any] = {"type": "integer" if feature.kind in ("binary", "count") else "number",
                                     "minimum": feature.min, "maximum": feature.max}
    number = Annotated[float, Field(strict=True), WithJsonSchema(number_schema)]
    if feature.required:
        return Annotated[number, AfterValidator(_encoder(feature, required=True))], ...
    return Annotated[number | None, AfterValidator(_encoder(feature, required=False))], None


def _encoder(feature: ArtifactFeature, required: bool) -> Callable[[object], float | None]:
    """The feature's rule as a validator: the model's number for the value, or the rule it breaks."""

    def check(value: object) -> float | None:
        try:
            encoded = encode(feature, value)
        except ValueRuleError as exc:  # a range is named as pydantic names it: clients already read these types
            if exc.below is not None:
                raise PydanticKnownError("greater_than_equal", {"ge": exc.below}) from None
            if exc.above is not None:
                raise PydanticKnownError("less_than_equal", {"le": exc.above}) from None
            raise
        if encoded is None and required:
            raise ValueError(REQUIRED)
        return encoded

    return check


def to_row(validated: BaseModel, names: list[str]) -> np.ndarray:
    """One feature row in model order; a missing (None) value becomes NaN, XGBoost's missing marker."""
    values = validated.__dict__  # the validated fields themselves (model_dump would copy them first)
    return np.array([np.nan if values[n] is None else float(values[n]) for n in names], dtype=np.float64)


def safe_errors(exc: ValidationError, prefix: tuple[str | int, ...]) -> list[dict[str, Any]]:
    """Pydantic errors without the submitted input, with locations relative to the request body."""
    return [{"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
