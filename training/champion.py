"""Score the current champion on the new run's test patients, so the comparison is like for like."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from sklearn.metrics import roc_auc_score

from kernel.bundle import read_bundle
from kernel.model_registry import download_version
from training.data import KEY


def champion_test_auroc(client: MlflowClient, model_name: str, version: str, table: pd.DataFrame,
                        test_keys: pd.Series, y_test: np.ndarray) -> float | None:
    """The champion's AUROC on these patients, or None when the table lacks one of its features."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle = read_bundle(download_version(client, model_name, version, Path(tmp)))
    if not set(bundle.feature_names) <= set(table.columns):
        return None
    rows = table.set_index(KEY).loc[test_keys.to_numpy(), bundle.feature_names].astype("float64").to_numpy()
    return float(roc_auc_score(y_test, bundle.risk(rows)))
