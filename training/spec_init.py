"""A starting model spec for a user's own table (`pmed spec init`), written as YAML for the user to check and
complete.

Inference only proposes; the user decides. The outcome columns are the user's (``--target``, or ``--time`` and
``--event``: refused unless already 0/1, since pmed cannot tell which of two other codes is the event); the id is
the first complete, unique column named like one; every other column is read by ``training.column_kinds``
(a declared feature's kind, levels, codes or widened range; a registry feature; or a reason to leave it out).
For survival the horizon is a suggestion (``suggest_horizon``). A table whose test split would hold fewer than
``VALIDATION_EVENTS`` events gets ``evaluation: SMALL_DATA_CV`` (repeated cross-validation) and, for survival,
``recalibration: baseline``.

Units, the description and the intended use are never guessed: each is a ``TODO`` (units: ``unit: ""`` and a
comment). No patient value or id is written except as part of a range or a level list, which the spec must hold.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from features.cohorts import DEFINITIONS
from training.column_kinds import ID_NAME, Column, infer_column, join_notes, numeric, registry_column
from training.errors import DataError

__all__ = ["HORIZONS_DAYS", "PLACEHOLDER", "SMALL_DATA_CV", "TEST_SHARE", "VALIDATION_EVENTS", "StartingSpec",
           "read_table", "spec_name", "starting_spec", "suggest_horizon"]

PLACEHOLDER = "TODO"  # every value the user must write starts with it; `pmed train --dry-run` warns on it
HORIZONS_DAYS = (30, 90, 180, 365, 730, 1095, 1825, 3650)  # horizons clinicians quote (1, 3, 6 months, 1-10 years)
VALIDATION_EVENTS = 100  # events a validation aims for (Vergouwe et al. 2005; Collins et al. 2016)
TEST_SHARE = 0.2  # the default split's test (and validation) share
SMALL_DATA_CV = {"cv_folds": 5, "repeats": 2}  # written when a test split would hold fewer than VALIDATION_EVENTS


@dataclass(frozen=True)
class StartingSpec:
    """The YAML text and the lines to show the user (what to fill in, what was left out and why)."""

    name: str
    text: str
    notes: list[str] = field(default_factory=list)


def read_table(path: Path) -> pd.DataFrame:
    """The table as training reads it: a CSV (pandas' parser, header on line 1) or a Parquet file."""
    if not path.is_file():
        raise DataError(f"{path}: not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise DataError(f"{path}: expected a .csv or .parquet file")


def spec_name(path: Path) -> str:
    """The file name as a spec name (``^[a-z][a-z0-9_]{1,63}$``): lower case, other characters to ``_``."""
    name = re.sub(r"[^a-z0-9]+", "_", path.stem.lower()).strip("_")
    if not name or not name[0].isalpha():
        name = f"cohort_{name}".rstrip("_")
    return name[:64] if len(name) > 1 else f"{name}_cohort"


def suggest_horizon(time: np.ndarray, event: np.ndarray) -> tuple[int, str]:
    """A horizon to start from: the quoted horizon (``HORIZONS_DAYS``) nearest the median follow-up on a log scale,
    among those at least a fifth of the patients are still followed at; with the reason, for the comment."""
    median = float(np.median(time))
    reached = [h for h in HORIZONS_DAYS if np.mean(time >= h) >= 0.2] or [HORIZONS_DAYS[0]]
    horizon = min(reached, key=lambda h: abs(math.log(h / max(median, 1.0))))
    at_risk = float(np.mean(time >= horizon))
    events_by = int(np.sum((event == 1) & (time <= horizon)))
    return horizon, (f"median follow-up {median:.0f} days; {at_risk:.0%} of patients followed to {horizon} days, "
                     f"{events_by} events by then")


def _event_flags(path: Path, frame: pd.DataFrame, column: str, role: str, allow_empty: bool) -> np.ndarray:
    """A 0/1 column (booleans count); two other codes are refused since pmed cannot tell which is the event."""
    if column not in frame.columns:
        raise DataError(f"{path}: column {column} (--{role}) is not in the table")
    values = numeric(frame[column])
    present = frame[column].notna()
    ok = values is not None and bool(values[present].isin([0, 1]).all()) and (allow_empty or bool(present.all()))
    if not ok or values is None:
        rule = ("1 = event, 0 = censored, on every row" if role == "event"
                else "1 = outcome, 0 = none, empty = not at risk")
        raise DataError(f"{path}: column {column}: the {role} column must be {rule}; recode it first (pmed cannot "
                        "tell which of two other codes is the event)")
    return values.to_numpy(dtype=np.float64)


def _follow_up(path: Path, frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame.columns:
        raise DataError(f"{path}: column {column} (--time) is not in the table")
    values = numeric(frame[column])
    if values is None or not bool((values > 0).all()):
        raise DataError(f"{path}: column {column}: follow-up must be a number of days > 0 on every row")
    return values.to_numpy(dtype=np.float64)


def _id_column(frame: pd.DataFrame, taken: set[str]) -> tuple[str | None, list[Column]]:
    """The first complete, unique column named like an id; columns named so whose values repeat are left out."""
    left_out: list[Column] = []
    for name in frame.columns:
        if name in taken or not ID_NAME.search(str(name)):
            continue
        series = frame[name]
        if series.notna().all() and not series.duplicated().any():
            return str(name), left_out
        left_out.append(Column(str(name), reason="named like an id but empty or repeated on some rows (the table "
                                                 "needs one row per patient)"))
    return None, left_out


def starting_spec(path: Path, frame: pd.DataFrame, target: str | None = None, time: str | None = None,
                  event: str | None = None) -> StartingSpec:
    """The starting spec for ``frame`` (read from ``path``): ``target`` for risk_classification, or ``time`` and
    ``event`` for survival. Raises ``DataError`` naming the column when those columns cannot serve."""
    if (target is None) == (time is None and event is None) or (time is None) != (event is None):
        raise DataError("give --target COL (risk_classification) or both --time COL and --event COL (survival)")
    outcome = [c for c in (target, time, event) if c is not None]
    survival_line = ""
    if time is not None and event is not None:
        flags = _event_flags(path, frame, event, "event", allow_empty=False)
        days = _follow_up(path, frame, time)
        horizon, horizon_note = suggest_horizon(days, flags)
        part: dict[str, Any] = {"time_column": time, "event_column": event, "horizon_days": horizon}
        small = bool(np.nansum(flags) * TEST_SHARE < VALIDATION_EVENTS)
        if small:  # a calibration slope fitted on a few dozen validation events is noise (and can come out < 0)
            part["recalibration"] = "baseline"
        survival_line = _line("survival", part, f"{PLACEHOLDER}: check the horizon ({horizon_note})"
                              + ("; recalibration: baseline (slope 1) since the validation split holds few "
                                 "events" if small else ""))
    else:
        assert target is not None
        flags = _event_flags(path, frame, target, "target", allow_empty=True)
    events = int(np.nansum(flags))
    id_column, columns = _id_column(frame, set(outcome))
    taken = set(outcome) | {id_column}
    for name in frame.columns:
        if str(name) in taken or any(c.name == str(name) for c in columns):
            continue
        columns.append(registry_column(str(name), frame[name]) if str(name) in DEFINITIONS
                       else infer_column(str(name), frame[name]))
    spec = _render(path, frame, spec_name(path), target or event or "", id_column, survival_line, columns)
    if events * TEST_SHARE >= VALIDATION_EVENTS:
        return spec
    why = (f"{events} events: a {TEST_SHARE:.0%} test split would hold about {round(events * TEST_SHARE)}, fewer than "
           f"the {VALIDATION_EVENTS} a validation aims for; repeated cross-validation scores every patient")
    return StartingSpec(spec.name, spec.text + _line("evaluation", SMALL_DATA_CV, why) + "\n",
                        [*spec.notes[:-1], f"evaluation by repeated cross-validation ({why})", spec.notes[-1]])


def _flow(value: Any) -> str:
    """One value as inline (flow) YAML: a scalar, ``[a, b]`` or ``{k: v}``, quoted where YAML needs it."""
    text = yaml.safe_dump([value], default_flow_style=True, sort_keys=False, width=10**6, allow_unicode=True)
    return text.strip()[1:-1]


def _line(key: str, value: Any, comment: str = "") -> str:
    text = f"{key}: {_flow(value)}"
    return f"{text}  # {comment}" if comment else text


def _render(path: Path, frame: pd.DataFrame, name: str, target: str, id_column: str | None, survival_line: str,
            columns: list[Column]) -> StartingSpec:
    features = [c for c in columns if c.entry is not None or c.registry]
    declared = [c for c in columns if c.entry is not None]
    left_out = [c for c in columns if c.reason]
    task = "survival" if survival_line else "risk_classification"
    today = datetime.now(UTC).date().isoformat()
    origin = f"from {path.name} ({len(frame)} rows, {len(frame.columns)} columns) on {today}"
    lines = [f"# Starting spec written by `pmed spec init` {origin}.",
             "# Kinds, levels and ranges were read from the table: check each one, and replace every TODO before",
             f"# training. Then: `pmed spec check FILE` and `pmed train FILE --table {path.name} --dry-run`.",
             "# Ranges (min/max) are the observed range widened by a tenth of its span on each side, rounded",
             "# outward (never below 0 for a column without negatives): training and serving refuse values outside.",
             _line("name", name, "from the file name"),
             _line("description", f"{PLACEHOLDER}: what the model predicts, for whom, from which data (one sentence)"),
             _line("intended_use", f"{PLACEHOLDER}: who uses the risk for which decision, and what it is not for"),
             _line("task", task)]
    if survival_line:
        lines += [_line("target", target, "the event column: 1 = event, 0 = censored (kept, not dropped)"),
                  survival_line]
    else:
        lines += [_line("target", target, "1 = the outcome, 0 = none, empty = not at risk"),
                  _line("horizon_years", 1.0, f"{PLACEHOLDER}: the outcome's horizon in years (within 1 year? 10?)")]
    notes = []
    if id_column is not None:
        lines.append(_line("id_column", id_column, "one row per patient; the split hashes it"))
    else:
        lines.append(_line("id_column", "patient_id", f"{PLACEHOLDER}: the table has no unique column named like an "
                                                      "id: add one (a pseudonymous patient number) and name it here"))
        notes.append("no unique id column found: add one (one pseudonymous id per patient) and set id_column")
    lines.append(_line("features", [c.name for c in features]))
    registry = [c.name for c in features if c.registry]
    if registry:
        lines.append(f"# registry features (pmed's definition, unit and range): {', '.join(registry)}")
    widened = [c for c in features if c.override is not None]
    if widened:
        lines.append(f"overrides:  # {PLACEHOLDER}: check these values are real (not a unit slip) before widening")
        lines += [f"  {c.name}: {_flow(c.override)}  # {c.note}" for c in widened]
    if declared:
        lines.append("declared_features:  # unit: TODO on each (empty only when the value has none)")
        for column in declared:
            assert column.entry is not None
            comment = join_notes("unit TODO" if column.entry["kind"] in ("continuous", "count") else "", column.note)
            lines.append(f"  - {_flow(column.entry)}" + (f"  # {comment}" if comment else ""))
    if left_out:
        lines.append("# left out (add them to features and declared_features if they should be used):")
        lines += [f"#   {c.name}: {c.reason}" for c in left_out]
        notes += [f"left out {c.name}: {c.reason}" for c in left_out]
    lines += [_line("subgroups", [], "columns of the table to report metrics by (sex, say); any declared column"),
              _line("on_invalid", "refuse", "or quarantine: rows out of range or malformed set aside, counted")]
    notes.append(f"fill in every {PLACEHOLDER} (description, intended_use, units"
                 + (", horizon" if survival_line else ", horizon_years") + ") before training")
    return StartingSpec(name, "\n".join(lines) + "\n", notes)
