"""MLflow "model from code" for a pmed bundle, so standard MLflow tooling can load a registered version.

pmed's own server never runs this file: it reads the bundle's data files directly. It exists so that
`mlflow models serve` and `mlflow.pyfunc.load_model` work on the same registered versions (for example
as the comparison peer in bench/), returning the same calibrated risk, without pickling any Python object.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.pyfunc.model import PythonModel, PythonModelContext
from typing_extensions import override

from kernel.bundle import MANIFEST_FILE, read_bundle


class PmedRiskModel(PythonModel):
    @override
    def load_context(self, context: PythonModelContext) -> None:
        folder = Path(context.artifacts[MANIFEST_FILE]).parent
        self._bundle = read_bundle(folder)

    @override
    def predict(self, context: PythonModelContext, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> np.ndarray:
        return self._bundle.risk(model_input[self._bundle.feature_names].astype("float64").to_numpy())


mlflow.models.set_model(PmedRiskModel())
