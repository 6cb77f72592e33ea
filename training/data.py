"""Load the feature table and outcomes for one model spec, and describe the features for serving."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.registry import get_features
from training.fit import TrainingData
from training.spec import ModelSpec

FEATURES_FILE = "features.parquet"
OUTCOMES_FILE = "outcomes.parquet"
KEY = "patient_key"


class DataError(ValueError):
    """The feature table does not fit the spec; the message names the file, column and rule."""


def load_training_data(features_dir: Path, spec: ModelSpec) -> TrainingData:
    """Join features and outcomes by patient key and keep the patients at risk for the spec's target."""
    features = _read(features_dir / FEATURES_FILE, [KEY, *spec.features])
    outcomes = _read(features_dir / OUTCOMES_FILE, [KEY, spec.target])
    if features[KEY].duplicated().any():
        raise DataError(f"{features_dir / FEATURES_FILE}: column {KEY}: keys must be unique (one row per patient)")
    table = features.merge(outcomes, on=KEY, how="inner", validate="one_to_one")
    at_risk = table[table[spec.target].notna()].reset_index(drop=True)
    y = at_risk[spec.target].astype(int).to_numpy()
    if not set(np.unique(y)) <= {0, 1}:
        raise DataError(f"{features_dir / OUTCOMES_FILE}: column {spec.target}: outcome must be 0, 1 or missing")
    X = at_risk[list(spec.features)].astype("float64").to_numpy()
    cohort = at_risk.drop(columns=list(spec.features))
    return TrainingData(X=X, y=y, keys=at_risk[KEY], cohort=cohort)


def data_fingerprint(features_dir: Path) -> str:
    """SHA-256 over the table contents (not the file bytes, which vary with the Parquet writer)."""
    digest = hashlib.sha256()
    for name in (FEATURES_FILE, OUTCOMES_FILE):
        frame = pd.read_parquet(features_dir / name)
        digest.update(",".join(frame.columns).encode())
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def describe_features(spec: ModelSpec, X_train: np.ndarray) -> list[dict[str, Any]]:
    """Registry entries plus what the training data says: a typical value and the observed range.

    ``example`` (the training median) gives API clients a valid value to start from; the observed range
    lets serving flag inputs the model never saw.
    """
    described = []
    for column, feature in enumerate(get_features(spec.features)):
        values = X_train[:, column]
        observed = values[~np.isnan(values)]
        entry = feature.public()
        entry["example"] = _typical(observed, feature.kind, (feature.min + feature.max) / 2)
        entry["training_min"] = float(observed.min()) if observed.size else None
        entry["training_max"] = float(observed.max()) if observed.size else None
        entry["training_missing_rate"] = float(1 - observed.size / max(values.size, 1))
        described.append(entry)
    return described


def _typical(values: np.ndarray, kind: str, fallback: float) -> float:
    if not values.size:
        return fallback
    median = float(np.median(values))
    return float(round(median)) if kind in ("binary", "count") else round(median, 2)


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: not found (run `pmed features build` first)")
    frame = pd.read_parquet(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)} required by the model spec")
    return frame
