"""A trial's own table (CSV or Parquet), read under the spec's names: id, arm, outcome, covariates, rule columns.

Covariates go through ``kernel.values`` (the rules serving validates requests with), exactly as a cohort table
does (``training.data``). A row whose arm is not one of the spec's arms, whose outcome breaks its rule, or whose
covariate breaks a value rule refuses the table (``on_invalid: refuse``: one line naming file, column, rule, count
and first row) or goes to ``<quarantine_dir>/table-<spec name>.csv`` (``on_invalid: quarantine``: file, row,
column and rule, never the value): rows in = rows used + rows quarantined, and the run says both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from training.data import Problem, _first, _read_any, _settle, encode_features
from training.errors import DataError
from training.spec import ModelSpec
from training.task import Progress

MIN_PER_ARM = 20  # fewer patients in an arm and no effect can be told from noise
TRUE_WORDS = {"1": 1.0, "1.0": 1.0, "true": 1.0, "yes": 1.0, "0": 0.0, "0.0": 0.0, "false": 0.0, "no": 0.0}


@dataclass(frozen=True)
class TrialDesign:
    """What the spec says about the trial's table (``training.effect.parts``), resolved with defaults."""

    arm_column: str
    arms: list[str]  # reference first
    outcome: str  # binary | continuous | time_to_event
    target: str  # the outcome column (binary, continuous) or the outcome's name (time-to-event)
    time_column: str | None
    event_column: str | None
    horizon_days: float | None
    rules: dict[str, str]  # rule name -> column of arm labels


@dataclass(frozen=True)
class TrialTable:
    """The used rows: covariates, arm index (0 = reference), outcome (or follow-up days) and event, rules' arms."""

    X: np.ndarray
    arm: np.ndarray
    y: np.ndarray
    event: np.ndarray | None
    rules: dict[str, np.ndarray]
    keys: pd.Series
    rows_in: int
    rows_quarantined: int


def read_trial_table(path: Path, spec: ModelSpec, design: TrialDesign, quarantine_dir: Path | None,
                     progress: Progress | None = None) -> TrialTable:
    """Read and check the table; raises ``DataError`` naming file, column, rule and first row for any refusal."""
    if not path.is_file():
        raise DataError(f"{path}: no such table (the trial's CSV or Parquet file, one row per patient)")
    frame = _read_any(path)
    outcome_columns = ([design.time_column, design.event_column] if design.outcome == "time_to_event"
                       else [design.target])
    required = [spec.id_column, design.arm_column, *outcome_columns, *spec.features, *design.rules.values()]
    missing = [c for c in dict.fromkeys(required) if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: column(s) {', '.join(str(c) for c in missing)} named by the spec are missing "
                        f"(the table has {', '.join(map(str, frame.columns[:12]))}"
                        f"{', ...' if len(frame.columns) > 12 else ''})")
    first_row = 2 if path.suffix.lower() == ".csv" else 1
    ids = frame[spec.id_column]
    if ids.isna().any() or ids.astype(str).duplicated().any():
        raise DataError(f"{path}: column {spec.id_column}: ids must be present and unique (one row per patient)"
                        + _first(ids.isna() | ids.astype(str).duplicated(), first_row))
    rows_in = len(frame)
    problems: list[Problem] = []
    arms = _labels(frame[design.arm_column])
    arm_index = arms.map({a: i for i, a in enumerate(design.arms)})
    problems.append(Problem(design.arm_column, f"the arm must be one of {', '.join(design.arms)} (arms in the spec)",
                            arm_index.isna().to_numpy()))
    for name, column in design.rules.items():
        picked = _labels(frame[column]).map({a: i for i, a in enumerate(design.arms)})
        problems.append(Problem(column, f"rule {name}: each row names one of the arms {', '.join(design.arms)}",
                                picked.isna().to_numpy()))
        frame[column] = picked
    problems += encode_features(frame, spec)
    problems += _outcome_problems(frame, design)
    frame = frame.assign(**{design.arm_column: arm_index})
    used = _settle(path, frame, spec, problems, first_row, quarantine_dir, progress).reset_index(drop=True)
    quarantined = rows_in - len(used)
    arm = used[design.arm_column].astype(int).to_numpy()
    _enough_per_arm(path, design, arm, used, quarantined)
    if design.outcome == "time_to_event":
        y = pd.to_numeric(used[design.time_column], errors="coerce").to_numpy(dtype=np.float64)
        event: np.ndarray | None = _binary_values(used[design.event_column]).to_numpy(dtype=np.float64)
    elif design.outcome == "binary":  # 0/1 as the rule reads it (true/false, yes/no too)
        y, event = _binary_values(used[design.target]).to_numpy(dtype=np.float64), None
    else:
        y, event = pd.to_numeric(used[design.target], errors="coerce").to_numpy(dtype=np.float64), None
    if progress is not None:
        progress(f"{path.name}: {rows_in} row(s) in, {len(used)} used, {quarantined} quarantined; per arm "
                 + ", ".join(f"{a} {int(np.sum(arm == i))}" for i, a in enumerate(design.arms)))
    return TrialTable(X=used[list(spec.features)].astype("float64").to_numpy(), arm=arm, y=y, event=event,
                      rules={n: used[c].astype(int).to_numpy() for n, c in design.rules.items()},
                      keys=used[spec.id_column].astype(str), rows_in=rows_in, rows_quarantined=quarantined)


def _labels(column: pd.Series) -> pd.Series:
    """An arm column as text labels, as the spec writes them (a numeric code 1.0 reads as '1')."""
    def label(value: object) -> object:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return str(value).strip()
    return column.astype(object).map(label)


def _binary_values(column: pd.Series) -> pd.Series:
    """0/1 (true/false, yes/no as written) -> 0.0/1.0; anything else NaN."""
    return column.astype(object).map(lambda v: TRUE_WORDS.get(str(v).strip().lower(), np.nan)
                                     if v is not None and not (isinstance(v, float) and np.isnan(v)) else np.nan)


def _outcome_problems(frame: pd.DataFrame, design: TrialDesign) -> list[Problem]:
    if design.outcome == "time_to_event":
        assert design.time_column is not None and design.event_column is not None  # the task's check_spec
        time = pd.to_numeric(frame[design.time_column], errors="coerce")
        return [Problem(design.time_column, "follow-up must be a number of days > 0", (~(time > 0)).to_numpy()),
                Problem(design.event_column, "the event indicator must be 1 (event) or 0 (censored)",
                        _binary_values(frame[design.event_column]).isna().to_numpy())]
    if design.outcome == "binary":
        return [Problem(design.target, "the outcome must be 0 or 1",
                        _binary_values(frame[design.target]).isna().to_numpy())]
    value = pd.to_numeric(frame[design.target], errors="coerce")
    return [Problem(design.target, "the outcome must be a number", (~np.isfinite(value)).to_numpy())]


def _enough_per_arm(path: Path, design: TrialDesign, arm: np.ndarray, used: pd.DataFrame, quarantined: int) -> None:
    counts = {a: int(np.sum(arm == i)) for i, a in enumerate(design.arms)}
    thin = [a for a, n in counts.items() if n < MIN_PER_ARM]
    if thin:
        where = f" ({quarantined} row(s) quarantined)" if quarantined else ""
        raise DataError(f"{path}: column {design.arm_column}: arm(s) {', '.join(thin)} have fewer than {MIN_PER_ARM} "
                        f"usable patients (per arm: {', '.join(f'{a} {n}' for a, n in counts.items())}){where}")
    outcome = design.event_column if design.outcome == "time_to_event" else design.target
    if design.outcome != "continuous":
        assert outcome is not None
        values = _binary_values(used[outcome]).to_numpy()
        none = [a for i, a in enumerate(design.arms) if not np.any(values[arm == i] == 1)]
        if none:
            raise DataError(f"{path}: column {outcome}: arm(s) {', '.join(none)} have no events among the usable "
                            "patients; no effect on the outcome can be estimated")
