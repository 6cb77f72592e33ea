"""Load training data for one model spec, from pmed's feature folder or from a user's own table.

Either way the result is the same ``TrainingData``: one row per patient at risk, features in spec order.
A table that does not fit the spec is refused with the file, the column and the rule (and the first
offending row), never with the offending values, which may be patient data.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from training.errors import DataError
from training.fit import TrainingData
from training.spec import ModelSpec, feature_definitions
from training.task import Progress, RunInputs, TargetKind

FEATURES_FILE = "features.parquet"
OUTCOMES_FILE = "outcomes.parquet"
KEY = "patient_key"
__all__ = ["DataError", "data_fingerprint", "describe_features", "load_table", "load_training_data"]


def load_training_data(features_dir: Path, spec: ModelSpec) -> TrainingData:
    """Join pmed's features and outcomes by patient key; keep the patients at risk for the spec's target."""
    features = _read(features_dir / FEATURES_FILE, [KEY, *spec.features])
    outcomes = _read(features_dir / OUTCOMES_FILE, [KEY, spec.target])
    if features[KEY].duplicated().any():
        raise DataError(f"{features_dir / FEATURES_FILE}: column {KEY}: keys must be unique (one row per patient)")
    table = features.merge(outcomes, on=KEY, how="inner", validate="one_to_one")
    return _at_risk(table, spec, features_dir / OUTCOMES_FILE)


def load_table(path: Path, spec: ModelSpec, target_kind: TargetKind | None = None) -> TrainingData:
    """A user's CSV or Parquet file: the spec names its id column, target and features (declared or registry).

    ``target_kind`` is what the task predicts (default: the spec's task's ``target_kind``): an ``outcome``
    (0/1, empty = not at risk) or a positive ``dose``.
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
    for feature in feature_definitions(spec):
        values = pd.to_numeric(frame[feature.name], errors="coerce")
        _refuse(path, feature.name, values.isna() & frame[feature.name].notna(), "values must be numbers", first_row)
        _refuse(path, feature.name, values.notna() & ~values.between(feature.min, feature.max),
                f"values must lie in {feature.min:g}-{feature.max:g} {feature.unit}", first_row)
        if feature.required:
            _refuse(path, feature.name, values.isna(), "a required feature may not be empty", first_row)
        frame[feature.name] = values
    target = pd.to_numeric(frame[spec.target], errors="coerce")
    if target_kind == "dose":
        _refuse(path, spec.target, ~(target > 0), "the dose must be a positive number", first_row)
    else:
        _refuse(path, spec.target, ~(target.isin([0, 1]) | frame[spec.target].isna()),
                "the outcome must be 0, 1 or empty (not at risk)", first_row)
    frame = frame.rename(columns={spec.id_column: KEY}).assign(**{spec.target: target})
    frame[KEY] = frame[KEY].astype(str)
    return _doses(frame, spec) if target_kind == "dose" else _at_risk(frame, spec, path)


def _doses(table: pd.DataFrame, spec: ModelSpec) -> TrainingData:
    """Dose regression: every patient has a dose (checked above); y is the dose itself."""
    table = table.reset_index(drop=True)
    X = table[list(spec.features)].astype("float64").to_numpy()
    return TrainingData(X=X, y=table[spec.target].astype("float64").to_numpy(), keys=table[KEY],
                        cohort=table.drop(columns=list(spec.features)), source=table)


def _at_risk(table: pd.DataFrame, spec: ModelSpec, source: Path) -> TrainingData:
    at_risk = table[table[spec.target].notna()].reset_index(drop=True)
    y = at_risk[spec.target].astype(int).to_numpy()
    if not set(np.unique(y)) <= {0, 1}:
        raise DataError(f"{source}: column {spec.target}: outcome must be 0, 1 or missing")
    if len(np.unique(y)) < 2:
        raise DataError(f"{source}: column {spec.target}: needs both outcomes (0 and 1) among patients at risk")
    X = at_risk[list(spec.features)].astype("float64").to_numpy()
    cohort = at_risk.drop(columns=list(spec.features))
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

    ``example`` (the training median) gives API clients a valid value to start from; the observed range
    and quantiles let serving flag inputs the model never or rarely saw; the importance lets serving
    judge how much of the model's usual evidence a patient's missing values take away.
    """
    described = []
    for column, feature in enumerate(feature_definitions(spec)):
        values = X_train[:, column]
        observed = values[~np.isnan(values)]
        entry = feature.public()
        entry["example"] = _typical(observed, feature.kind, (feature.min + feature.max) / 2)
        entry["training_min"] = float(observed.min()) if observed.size else None
        entry["training_max"] = float(observed.max()) if observed.size else None
        entry["training_missing_rate"] = float(1 - observed.size / max(values.size, 1))
        entry["training_quantiles"] = ({f"p{round(100 * q):02d}": float(np.quantile(observed, q))
                                        for q in TRAINING_QUANTILES} if observed.size else {})
        if importance is not None:
            entry["mean_abs_shap"] = float(importance.get(feature.name, 0.0))
        described.append(entry)
    return described


def _typical(values: np.ndarray, kind: str, fallback: float) -> float:
    if not values.size:
        return fallback
    median = float(np.median(values))
    return float(round(median)) if kind in ("binary", "count") else round(median, 2)


def _refuse(path: Path, column: str, bad: pd.Series, rule: str, first_row: int) -> None:
    if bad.any():
        raise DataError(f"{path}: column {column}: {rule}; {int(bad.sum())} row(s) break it"
                        + _first(bad, first_row))


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
        return load_table(table, spec), [table]
    if folder is None:
        raise DataError(f"{spec.name}: give a feature folder or a table (--table) to train on")
    progress(f"loading data for {spec.name} from {folder}")
    return load_training_data(folder, spec), [folder / FEATURES_FILE, folder / OUTCOMES_FILE]
