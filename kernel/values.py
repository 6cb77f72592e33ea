"""The value rules of one feature, in one place: what training's table reader and serving's request model accept.

A value is turned into the number the model sees (``encode``) or refused with the rule it breaks, never with
the value itself (it may be patient data). Both sides call the same function, so what training accepts serving
accepts and what serving refuses training refuses (``tests/training/test_value_rules.py`` feeds the same values
through both):

- a number (``continuous``, ``count`` and ``binary`` with the default codes 0/1): finite, a whole number for a
  count or binary, within the feature's ``min``-``max``;
- a coded value (``categorical`` with ``levels``, ``binary`` with two declared ``codes``): one of the codes as
  written in the table (text, or numbers such as 1/2), compared as text (``1``, ``1.0`` and ``"1"`` are the same
  code); the model sees the code's position (0, 1, ...: for a binary, the first code is 0 and the second 1).

Missing (None, NaN, empty text) is not a rule: whether a feature may be missing is the caller's (required).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

DEFAULT_CODES = ("0", "1")
NOT_A_NUMBER = "must be a number"
NOT_FINITE = "must be a finite number"
NOT_WHOLE = "must be a whole number"


class ValueRuleError(ValueError):
    """A value breaks a feature's rule; the message is the rule ('must lie in 10-100 points'), never the value.

    ``below``/``above`` say which end of the range a number missed (None for any other rule), so a caller with its
    own error vocabulary (serving keeps pydantic's ``greater_than_equal``/``less_than_equal``) can name it."""

    def __init__(self, rule: str, below: float | None = None, above: float | None = None) -> None:
        super().__init__(rule)
        self.below, self.above = below, above


class Ruled(Protocol):
    """What the rules read of a feature: the registry's ``Feature``, a spec's declared one, an artifact's."""

    @property
    def kind(self) -> str: ...
    @property
    def min(self) -> float: ...
    @property
    def max(self) -> float: ...
    @property
    def unit(self) -> str: ...
    @property
    def levels(self) -> Sequence[str] | None: ...
    @property
    def codes(self) -> Sequence[str] | None: ...


def code_text(value: object) -> str | None:
    """A code as text: ``1``, ``1.0`` and ``"1"`` read ``"1"``; text is stripped; None, NaN and "" are missing."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if math.isnan(number):
            return None
        return str(int(number)) if number.is_integer() else repr(number)
    text = str(value).strip()
    return text or None


def coded_as(feature: Ruled) -> tuple[str, ...] | None:
    """The codes a feature takes as written (a categorical's levels, a binary's declared codes); None for a
    number (a binary with the default codes 0/1 is validated as the number it is)."""
    if feature.kind == "categorical":
        return tuple(feature.levels or ())
    if feature.kind == "binary" and feature.codes is not None and tuple(feature.codes) != DEFAULT_CODES:
        return tuple(feature.codes)
    return None


def written_value(code: str) -> str | int | float:
    """A code as a request writes it: a number where the code reads as one (``"2"`` -> 2), else the text."""
    try:
        number = float(code)
    except ValueError:
        return code
    if code_text(number) != code:
        return code
    return int(number) if number.is_integer() else number


def as_written(feature: Ruled, number: float) -> str | int | float:
    """The inverse of ``encode``: the model's number as a request writes it (a coded feature's code)."""
    codes = coded_as(feature)
    if codes is None:
        return int(number) if feature.kind in ("binary", "count") and float(number).is_integer() else number
    return written_value(codes[int(number)])


def codes_rule(codes: Sequence[str]) -> str:
    return f"must be one of {', '.join(codes)}"


def number_rule(feature: Ruled, number: float) -> str | None:
    """The rule a present number breaks, or None: finite, whole for a count or binary, within min-max."""
    if not math.isfinite(number):
        return NOT_FINITE
    if feature.kind in ("binary", "count") and not number.is_integer():
        return NOT_WHOLE
    if not feature.min <= number <= feature.max:
        return f"must lie in {feature.min:g}-{feature.max:g} {feature.unit}".rstrip()
    return None


def encode(feature: Ruled, value: object) -> float | None:
    """The number the model sees for one value (None = missing), or ``ValueRuleError`` naming the rule.

    A number feature takes a number (text that reads as one is the transport's business: a CSV cell is text);
    a coded feature takes one of its codes as written.
    """
    codes = coded_as(feature)
    if codes is not None:
        text = code_text(value)
        if text is None:
            return None
        if text not in codes:
            raise ValueRuleError(codes_rule(codes))
        return float(codes.index(text))
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueRuleError(NOT_A_NUMBER)
    number = float(value)
    if math.isnan(number):
        return None
    rule = number_rule(feature, number)
    if rule is not None:
        raise ValueRuleError(rule, below=feature.min if number < feature.min else None,
                             above=feature.max if number > feature.max else None)
    return number


@dataclass(frozen=True)
class EncodedColumn:
    """A table column through ``encode``: the model's numbers (NaN = missing or refused) and, per rule broken,
    which rows broke it."""

    values: np.ndarray
    broken: dict[str, np.ndarray]

    @property
    def bad(self) -> np.ndarray:
        """Rows that break any rule."""
        out = np.zeros(len(self.values), dtype=bool)
        for rows in self.broken.values():
            out |= rows
        return out


def encode_column(feature: Ruled, cells: Sequence[object] | np.ndarray) -> EncodedColumn:
    """``encode`` over a column, once per distinct value (a table repeats its values; the rule is the same call)."""
    column = np.asarray(cells, dtype=object)
    if not len(column):
        return EncodedColumn(np.full(0, np.nan), {})
    keys = np.array([_key(v) for v in column], dtype=object)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    encoded = np.full(len(first), np.nan)
    rule_of = np.full(len(first), -1)
    rules: list[str] = []
    for position, at in enumerate(first.tolist()):
        try:
            number = encode(feature, column[at])
        except ValueRuleError as exc:
            if str(exc) not in rules:
                rules.append(str(exc))
            rule_of[position] = rules.index(str(exc))
            continue
        encoded[position] = np.nan if number is None else number
    values = encoded[inverse]
    row_rule = rule_of[inverse]
    broken = {rule: row_rule == i for i, rule in enumerate(rules)}
    return EncodedColumn(values, broken)


def _key(value: object) -> str:
    """A sortable key telling distinct values apart (type included: 1 and "1" may be ruled differently)."""
    if isinstance(value, (float, np.floating)) and math.isnan(float(value)):
        return "nan"
    return f"{type(value).__name__}:{value!r}"
