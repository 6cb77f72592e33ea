"""Load training data for one model spec, from pmed's feature folder or from a user's own table.

Either way the result is the same ``TrainingData``: one row per patient at risk, features in spec order.
A table that does not fit the spec is refused with the file, the column and the rule (and the first
offending row), never with the offending values, which may be patient data.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.quarantine import Quarantine, SourceCheck
from features.registry import Feature
from kernel.settings import Settings
from kernel.values import NOT_A_NUMBER, coded_as, encode_column
from training.errors import DataError
from training.fit import TrainingData
from training.spec import ModelSpec, feature_definitions
from training.subgroups import checked_cohort
from training.task import Progress, RunInputs, TargetKind

FEATURES_FILE = "features.parquet"
OUTCOMES_FILE = "outcomes.parquet"
KEY = "patient_key"
__all__ = ["DataError", "data_fingerprint", "describe_features", "load_table", "load_training_data"]
log = logging.getLogger("pmed.training")


def load_training_data(features_dir: Path, spec: ModelSpec) -> TrainingData:
    """Join pmed's features and outcomes by patient key; keep the patients at risk for the spec's target."""
    features = _read(features_dir / FEATURES_FILE, [KEY, *spec.features])
    outcomes = _read(features_dir / OUTCOMES_FILE, [KEY, spec.target])
    if features[KEY].duplicated().any():
        raise DataError(f"{features_dir / FEATURES_FILE}: column {KEY}: keys must be unique (one row per patient)")
    table = features.merge(outcomes, on=KEY, how="inner", validate="one_to_one")
    return _at_risk(table, spec, features_dir / OUTCOMES_FILE)


def load_table(path: Path, spec: ModelSpec, target_kind: TargetKind | None = None, *,
               quarantine_dir: Path | None = None, progress: Progress | None = None) -> TrainingData:
    """A user's CSV or Parquet file: the spec names its id column, target and features (declared or registry).

    ``target_kind`` is what the task predicts (default: the spec's task's ``target_kind``): an ``outcome``
    (0/1, empty = not at risk) or a positive ``dose``. Feature values go through ``kernel.values``, the rules
    serving validates requests with: a categorical's level or a binary's declared code as written becomes its
    position (0, 1, ...). A row that breaks a rule refuses the table (``on_invalid: refuse``, the default: one line
    naming file, column, rule, count and first row) or goes to ``<quarantine_dir>/table-<spec name>.csv``
    (``on_invalid: quarantine``: file, row, column and rule, never the value), and the rest is trained on.
    """
    if target_kind is None:
        from training.task import task_for

        target_kind = task_for(spec.task).target_kind
    frame = _read_any(path)
    required = [spec.id_column, spec.target, *spec.features]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: column(s) {', '.join(missing)} required by the spec are missing")
    first_row = 2 if path.suffix.lower() == ".csv" else 1  # CSV rows are file lines (header = line 1)
    if frame[spec.id_column].isna().any() or frame[spec.id_column].duplicated().any():
        raise DataError(f"{path}: column {spec.id_column}: ids must be present and unique (one row per patient)"
                        + _first(frame[spec.id_column].isna() | frame[spec.id_column].duplicated(), first_row))
    problems = encode_features(frame, spec)
    target = pd.to_numeric(frame[spec.target], errors="coerce")
    if target_kind == "dose":
        problems.append(Problem(spec.target, "the dose must be a positive number", (~(target > 0)).to_numpy()))
    else:
        problems.append(Problem(spec.target, "the outcome must be 0, 1 or empty (not at risk)",
                                (~(target.isin([0, 1]) | frame[spec.target].isna())).to_numpy()))
    frame = frame.assign(**{spec.target: target})
    frame = _settle(path, frame, spec, problems, first_row, quarantine_dir, progress)
    frame = frame.rename(columns={spec.id_column: KEY})
    frame[KEY] = frame[KEY].astype(str)
    return _doses(frame, spec) if target_kind == "dose" else _at_risk(frame, spec, path)


def encode_features(frame: pd.DataFrame, spec: ModelSpec) -> list[Problem]:
    """Encode the spec's feature columns of a table in place by ``kernel.values``' rules (serving's), returning
    the rows each rule refuses (and a required feature left empty); shared by every table reader."""
    problems: list[Problem] = []
    for feature in feature_definitions(spec):
        encoded = encode_column(feature, table_cells(frame[feature.name], feature))
        problems += _column_problems(feature.name, encoded.broken)
        if feature.required:
            problems.append(Problem(feature.name, "a required feature may not be empty",
                                    np.isnan(encoded.values) & ~encoded.bad))
        frame[feature.name] = encoded.values
    return problems


@dataclass(frozen=True)
class Problem:
    """Rows of one column that break one rule."""

    column: str
    rule: str
    rows: np.ndarray  # bool, one per table row


def table_cells(column: pd.Series, feature: Feature) -> np.ndarray:
    """A table column as the values ``kernel.values.encode`` rules on: a CSV cell is text, so a number feature's
    cells that read as numbers become numbers (the rest stay text and break "must be a number"); a coded
    feature's cells stay as written; pandas' missing markers become None."""
    cells = column.astype(object).where(column.notna(), None)
    if coded_as(feature) is None:
        numbers = pd.to_numeric(column, errors="coerce")
        cells = numbers.astype(object).where(numbers.notna(), cells)
    return cells.to_numpy(dtype=object)


def _column_problems(column: str, broken: dict[str, np.ndarray]) -> list[Problem]:
    """One problem per rule broken, earliest first row first, worded for a table ('values must ...')."""
    found = [Problem(column, TABLE_RULES.get(rule, f"values {rule}"), rows) for rule, rows in broken.items()]
    return sorted(found, key=lambda p: int(np.argmax(p.rows)))


TABLE_RULES = {NOT_A_NUMBER: "values must be numbers"}


def _settle(path: Path, frame: pd.DataFrame, spec: ModelSpec, problems: list[Problem], first_row: int,
            quarantine_dir: Path | None, progress: Progress | None) -> pd.DataFrame:
    """Refuse the table at its first problem, or quarantine each offending row once (under the first rule it
    broke, in column order) and keep the rest: rows in = rows used + rows quarantined. In quarantine mode the file
    is written even when no row broke a rule, so an earlier run's file is never left to mislead."""
    problems = [p for p in problems if p.rows.any()]
    if spec.on_invalid == "refuse":
        if not problems:
            return frame
        first = problems[0]
        raise DataError(f"{path}: column {first.column}: {first.rule}; {int(first.rows.sum())} row(s) break it"
                        + _first(pd.Series(first.rows), first_row))
    quarantine = Quarantine()
    check = SourceCheck(path.name, frame.reset_index(drop=True), quarantine, first_data_line=first_row)
    kept = np.ones(len(frame), dtype=bool)
    for problem in problems:
        check.reject(problem.rows[kept], problem.column, problem.rule)
        kept &= ~problem.rows
    used = check.finish()
    where = (quarantine_dir or Settings().quarantine_dir) / f"table-{spec.name}.csv"
    quarantine.write(where)  # written even when empty: no earlier run's file is left to mislead
    counts = check.counts
    if not counts.rows_quarantined:
        return frame
    message = (f"{path.name}: quarantined {counts.rows_quarantined} of {counts.rows_in} row(s) that break a value "
               f"rule (on_invalid: quarantine; file, row, column and rule in {where}); training on {counts.rows_used}")
    log.warning(message)
    if progress is not None:
        progress(message)
    return used.reset_index(drop=True)


def _doses(table: pd.DataFrame, spec: ModelSpec) -> TrainingData:
    """Dose regression: every patient has a dose (checked above); y is the dose itself."""
    table = table.reset_index(drop=True)
    X = table[list(spec.features)].astype("float64").to_numpy()
    return TrainingData(X=X, y=table[spec.target].astype("float64").to_numpy(), keys=table[KEY],
                        cohort=checked_cohort(table, spec), source=table)


def _at_risk(table: pd.DataFrame, spec: ModelSpec, source: Path) -> TrainingData:
    at_risk = table[table[spec.target].notna()].reset_index(drop=True)
    y = at_risk[spec.target].astype(int).to_numpy()
    if not set(np.unique(y)) <= {0, 1}:
        raise DataError(f"{source}: column {spec.target}: outcome must be 0, 1 or missing")
    if len(np.unique(y)) < 2:
        raise DataError(f"{source}: column {spec.target}: needs both outcomes (0 and 1) among patients at risk")
    X = at_risk[list(spec.features)].astype("float64").to_numpy()
    cohort = checked_cohort(at_risk, spec, source)  # features kept: any column can be a subgroup
    return TrainingData(X=X, y=y, keys=at_risk[KEY], cohort=cohort, source=table)


def data_fingerprint(paths: list[Path]) -> str:
    """SHA-256 over table contents (not file bytes, which vary with the writer)."""
    digest = hashlib.sha256()
    for path in paths:
        frame = _read_any(path)
        digest.update(",".join(map(str, frame.columns)).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


TRAINING_QUANTILES = (0.01, 0.05, 0.5, 0.95, 0.99)


def describe_features(spec: ModelSpec, X_train: np.ndarray,
                      importance: dict[str, float] | None = None) -> list[dict[str, Any]]:
    """Feature definitions plus what the training data says: a typical value, the observed range and
    quantiles, and (when given) the feature's mean |SHAP| importance.

    ``example`` (the training median; a categorical's most common level, as its position) gives API clients a
    valid value to start from; the observed range
    and quantiles let serving flag inputs the model never or rarely saw; the importance lets serving
    judge how much of the model's usual evidence a patient's missing values take away.
    """
    described = []
    for column, feature in enumerate(feature_definitions(spec)):
        values = X_train[:, column]
        observed = values[~np.isnan(values)]
        entry = feature.public()
        entry["example"] = _typical(observed, feature.kind, (feature.min + feature.max) / 2)
        ranged = bool(observed.size) and feature.kind != "categorical"  # a level's position has no order to range over
        entry["training_min"] = float(observed.min()) if ranged else None
        entry["training_max"] = float(observed.max()) if ranged else None
        entry["training_missing_rate"] = float(1 - observed.size / max(values.size, 1))
        entry["training_quantiles"] = ({f"p{round(100 * q):02d}": float(np.quantile(observed, q))
                                        for q in TRAINING_QUANTILES} if ranged else {})
        if importance is not None:
            entry["mean_abs_shap"] = float(importance.get(feature.name, 0.0))
        described.append(entry)
    return described


def _typical(values: np.ndarray, kind: str, fallback: float) -> float:
    """The training median; a categorical's most common level (its position; ties: the first level)."""
    if not values.size:
        return float(round(fallback)) if kind in ("binary", "count", "categorical") else fallback
    if kind == "categorical":
        positions, counts = np.unique(values, return_counts=True)
        return float(positions[int(np.argmax(counts))])
    median = float(np.median(values))
    return float(round(median)) if kind in ("binary", "count") else round(median, 2)


def _first(bad: pd.Series, first_row: int) -> str:
    return f" (first at row {int(np.flatnonzero(bad.to_numpy())[0]) + first_row})"


def _read_any(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: not found")
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    raise DataError(f"{path}: expected a .csv or .parquet file")


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: not found (run `pmed features build` first)")
    frame = pd.read_parquet(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} required by the model spec")
    return frame


def load_inputs(spec: ModelSpec, inputs: RunInputs, progress: Progress) -> tuple[TrainingData, list[Path]]:
    """A tabular task's data (the user's ``table``, else pmed's feature folder) and the files it came from."""
    table, folder = inputs.table, inputs.features_dir
    if table is not None:
        progress(f"loading data for {spec.name} from {table}")
        return load_table(table, spec, quarantine_dir=inputs.quarantine_dir, progress=progress), [table]
    if folder is None:
        raise DataError(f"{spec.name}: give a feature folder or a table (--table) to train on")
    progress(f"loading data for {spec.name} from {folder}")
    return load_training_data(folder, spec), [folder / FEATURES_FILE, folder / OUTCOMES_FILE]
