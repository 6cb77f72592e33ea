"""What one column of a user's table looks like to `pmed spec init`: a declared feature's kind, levels, codes or
range read from its values, a registry feature (with an ``overrides`` range when the table's values lie beyond
pmed's), or a reason to leave it out.

The rules, in order: all empty, a written row index, a site code's name, or one value -> left out; text ->
dates (left out), a distinct text per row (an identifier: left out), more than ``MAX_TEXT_LEVELS`` values or
fewer than five rows per value (free text: left out), two values (``binary``, ``codes`` sorted, the first read
as 0) or ``categorical`` with its ``levels``; numbers -> two values (``binary``), a distinct whole number per row
(an identifier: left out), whole-number codes 0..k or 1..k with every code present (``categorical``; a scale with
gaps such as 50, 60, ..., 100 is a number), else ``continuous`` (``count`` when whole and named like a count) with
``min``/``max`` the observed range widened (``widen``). Units are never guessed (``unit: ""``).
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.cohorts import DEFINITIONS

__all__ = ["ID_NAME", "MAX_NUMERIC_LEVELS", "MAX_TEXT_LEVELS", "Column", "infer_column", "join_notes", "numeric",
           "registry_column", "widen"]

MAX_NUMERIC_LEVELS = 12  # whole-number codes 0..k or 1..k, at most this many, are read as categorical
MAX_TEXT_LEVELS = 30  # text with more distinct values is free text, not a category

ID_NAME = re.compile(r"(^|[_.\s-])(id|key|mrn|pid|patient|subject|person|record)s?([_.\s-]|$)|^(patient|subject)",
                     re.IGNORECASE)
_SITE_NAME = re.compile(r"^(inst|institution|site|centre|center|hospital|clinic|practice)s?([_.\s-]?(id|code|no))?$",
                        re.IGNORECASE)
_DATE_NAME = re.compile(r"(date|_dt$|^dt_|timestamp|^dob$|birth)", re.IGNORECASE)
_COUNT_NAME = re.compile(r"(count|number|^n_|_n$|num_|nodes|admissions|visits|episodes|events)", re.IGNORECASE)
_INDEX_NAME = re.compile(r"^unnamed(: ?\d+)?$|^index$|^level_0$", re.IGNORECASE)


@dataclass(frozen=True)
class Column:
    """What init made of one column: a declared feature (``entry``), a registry feature, or left out (``reason``)."""

    name: str
    entry: dict[str, Any] | None = None  # the declared_features entry
    registry: bool = False
    override: dict[str, float] | None = None  # a registry feature's range widened to hold the table's values
    reason: str = ""  # why it is left out (empty when it is a feature)
    note: str = ""  # a comment beside the entry for the user to check



def widen(low: float, high: float, whole: bool) -> tuple[float, float]:
    """The observed range widened by a tenth of its span on each side, rounded outward to the padding's order of
    magnitude (whole numbers for a whole-number column), never below 0 for a column without negatives.

    A later patient a little beyond the training range is accepted (and flagged by serving as outside it); a
    value ten times too large (a unit slip) is still refused.
    """
    span = high - low
    pad = max(span / 10 if span > 0 else max(abs(low) / 10, 1.0), 1e-6)
    step = 10.0 ** math.floor(math.log10(pad))
    if whole:
        step = max(step, 1.0)
    lo, hi = math.floor((low - pad) / step) * step, math.ceil((high + pad) / step) * step
    if low >= 0:
        lo = max(lo, 0.0)
    digits = max(0, -math.floor(math.log10(step)))
    return round(lo, digits), round(hi, digits)


def _display_name(column: str) -> str:
    words = re.sub(r"[_.\s-]+", " ", column).strip()
    return words[:1].upper() + words[1:] if words else column


def _plain(value: Any) -> Any:
    """A level or code as YAML writes it: whole numbers as int, other numbers as float, text as text."""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else float(value)
    return str(value)


def numeric(series: pd.Series) -> pd.Series | None:
    """The column as numbers when every present value is one (booleans as 0/1), else None."""
    if series.dtype == bool:
        return series.astype(float)
    values = pd.to_numeric(series, errors="coerce")
    return values if int(values.notna().sum()) == int(series.notna().sum()) else None


def _looks_like_dates(name: str, present: pd.Series) -> bool:
    if _DATE_NAME.search(name):
        return True
    sample = present.astype(str).drop_duplicates().head(200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.9)


def _declared(name: str, kind: str, **rest: Any) -> dict[str, Any]:
    return {"name": name, "display_name": _display_name(name), "unit": "", "kind": kind, **rest}


def infer_column(name: str, series: pd.Series) -> Column:
    """One column's kind, levels, codes or range; or why it is left out. ``series`` holds every row."""
    present = series.dropna()
    n = len(present)
    note = f"{len(series) - n} of {len(series)} empty" if n < len(series) else ""
    if n == 0:
        return Column(name, reason="every value is empty")
    if _INDEX_NAME.match(name.strip()):
        return Column(name, reason="a row index written with the file, not a patient characteristic")
    if _SITE_NAME.match(name.strip()):
        return Column(name, reason=f"looks like a site code: use it as split: {{by: site, site_column: {name}}} "
                                   "or as a subgroup rather than as a feature")
    distinct = present.drop_duplicates()
    if len(distinct) == 1:
        return Column(name, reason="a single value on every row: it cannot inform a model")
    numbers = numeric(series)
    if numbers is None:
        return _text_column(name, present, distinct, note)
    values = numbers.dropna()
    whole = bool(np.all(np.mod(values.to_numpy(), 1) == 0))
    if len(distinct) == 2:
        codes = sorted(_plain(v) for v in values.drop_duplicates())
        return Column(name, _declared(name, "binary", codes=codes), note=join_notes(note, f"{codes[0]} is read as 0"))
    if whole and len(distinct) == len(series) and n >= 20:
        return Column(name, reason="a distinct whole number on every row: looks like an identifier "
                                   "(name it as id_column if it identifies patients)")
    if whole and _codes(values) and len(distinct) * 4 <= n:
        levels = sorted(_plain(v) for v in values.drop_duplicates())
        return Column(name, _declared(name, "categorical", levels=levels),
                      note=join_notes(note, f"codes {levels[0]}-{levels[-1]}; if they are ordered (a score, a grade) "
                                       "use kind: continuous with min/max instead"))
    if len(distinct) <= MAX_NUMERIC_LEVELS:
        note = join_notes(note, f"{len(distinct)} distinct values: if they are codes, not amounts, use kind: "
                                "categorical with levels instead")
    low, high = widen(float(values.min()), float(values.max()), whole)
    kind = "count" if whole and values.min() >= 0 and _COUNT_NAME.search(name) else "continuous"
    return Column(name, _declared(name, kind, min=_plain(low), max=_plain(high)), note=note)


def registry_column(name: str, series: pd.Series) -> Column:
    """A registry feature: pmed's definition, with an ``overrides`` range when some values lie outside it (the
    registry's range widened to hold them, as ``widen`` widens an observed one); coded kinds are left as defined."""
    feature = DEFINITIONS[name]
    values = numeric(series)
    if feature.kind in ("binary", "categorical") or values is None or values.dropna().empty:
        return Column(name, registry=True)
    present = values.dropna()
    outside = int((~present.between(feature.min, feature.max)).sum())
    if not outside:
        return Column(name, registry=True)
    low, high = widen(min(float(present.min()), feature.min), max(float(present.max()), feature.max),
                      feature.kind == "count")
    override = {"min": _plain(low) if present.min() < feature.min else _plain(feature.min),
                "max": _plain(high) if present.max() > feature.max else _plain(feature.max)}
    return Column(name, registry=True, override=override,
                  note=f"{outside} row(s) outside pmed's range {feature.min:g}-{feature.max:g} {feature.unit}")


def _codes(values: pd.Series) -> bool:
    """Whole numbers 0..k or 1..k, every one present, at most ``MAX_NUMERIC_LEVELS``: codes rather than amounts (a
    scale with gaps, 50, 60, ..., 100, is read as a number)."""
    distinct = np.unique(values.to_numpy())
    return bool(len(distinct) <= MAX_NUMERIC_LEVELS and distinct[0] in (0, 1)
                and np.array_equal(distinct, np.arange(distinct[0], distinct[0] + len(distinct))))


def _text_column(name: str, present: pd.Series, distinct: pd.Series, note: str) -> Column:
    if _looks_like_dates(name, present):
        return Column(name, reason="dates: a model takes one value per patient at the index date; derive a number "
                                   "from it (an age, days since) as a new column")
    if len(distinct) == len(present) and len(present) >= 20:
        return Column(name, reason="a distinct text on every row: an identifier or free text")
    if len(distinct) > MAX_TEXT_LEVELS or len(distinct) * 5 > len(present):
        return Column(name, reason=f"free text with {len(distinct)} distinct values; group it into at most "
                                   f"{MAX_TEXT_LEVELS} levels to use it as a categorical feature")
    labels = sorted(str(v) for v in distinct)
    if len(labels) == 2:
        return Column(name, _declared(name, "binary", codes=labels),
                      note=join_notes(note, f"{labels[0]!r} is read as 0"))
    return Column(name, _declared(name, "categorical", levels=labels), note=note)


def join_notes(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
