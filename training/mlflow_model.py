"""MLflow "model from code" for a pmed bundle, so standard MLflow tooling can load a registered version.

pmed's own server never runs this file: it reads the bundle's data files directly. It exists so that
`mlflow models serve` and `mlflow.pyfunc.load_model` work on the same registered versions (for example
as the comparison peer in bench/), returning the same calibrated risk, without pickling any Python object.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from kernel.bundle import MANIFEST_FILE, read_bundle


class PmedRiskModel(PythonModel):
    def load_context(self, context) -> None:  # noqa: ANN001 (MLflow's PythonModelContext)
        folder = Path(context.artifacts[MANIFEST_FILE]).parent
        self._bundle = read_bundle(folder)

    def predict(self, context, model_input: pd.DataFrame, params=None) -> np.ndarray:  # noqa: ANN001
        return self._bundle.risk(model_input[self._bundle.feature_names].astype("float64").to_numpy())


mlflow.models.set_model(PmedRiskModel())
