"""The MLflow side of training: the run, the logged model, the registered version and the alias.

Order matters for safety: a version is registered only after the run has logged everything, it is
re-downloaded and verified against its manifest, and only then may the alias move. A crash at any
point therefore leaves the previous champion serving.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient

from kernel.bundle import read_bundle
from kernel.model_registry import download_version, registry_client
from kernel.settings import Settings
from training.failpoints import failpoint

MODEL_CODE = Path(__file__).with_name("mlflow_model.py")
GATES_TAG = "pmed.gates"
PID_TAG, HOST_TAG = "pmed.pid", "pmed.host"
log = logging.getLogger("pmed.training")


@dataclass(frozen=True)
class LoggedVersion:
    run_id: str
    version: str


def configure_mlflow(settings: Settings) -> MlflowClient:
    """Point MLflow at pmed's tracking store and make sure the experiment exists."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("MLFLOW_ALLOW_PICKLE_DESERIALIZATION", "false")
    settings.resolved_home.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    mlflow.set_registry_uri(settings.mlflow_registry_uri)
    if mlflow.get_experiment_by_name(settings.experiment) is None:
        mlflow.create_experiment(settings.experiment, artifact_location=settings.artifact_root.as_uri())
    mlflow.set_experiment(settings.experiment)
    return registry_client(settings)


def log_and_register(*, model_name: str, bundle_dir: Path, spec_path: Path, params: dict[str, Any],
                     metrics: dict[str, float], tags: dict[str, str], reports: dict[str, Any],
                     files: dict[str, list[Path]], input_example: pd.DataFrame,
                     trials: Sequence[dict[str, Any]] = ()) -> LoggedVersion:
    """Log one training run with its model bundle and register the model as a new version."""
    with mlflow.start_run(run_name=f"{model_name}-train") as run:
        mlflow.set_tags({**tags, PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()})
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.log_artifact(str(spec_path), artifact_path="spec")
        for name, payload in reports.items():
            mlflow.log_dict(payload, f"reports/{name}.json")
        for trial in trials:  # hyperparameter-search trials as child runs, comparable in the MLflow UI
            with mlflow.start_run(run_name=f"{model_name}-trial-{trial['number']}", nested=True):
                mlflow.log_params(trial["params"])
                mlflow.log_metrics({"validation_logloss": trial["validation_logloss"],
                                    "best_iteration": trial["best_iteration"]})
        for folder, paths in files.items():
            for path in paths:
                mlflow.log_artifact(str(path), artifact_path=folder)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(MODEL_CODE),
            artifacts={path.name: str(path) for path in sorted(bundle_dir.iterdir())},  # bundle + manifest
            input_example=input_example,
            pip_requirements=model_requirements(),  # stated, not inferred: inference reloads the model (~5 s)
        )
        failpoint("after_logging")
        version = mlflow.register_model(info.model_uri, model_name, tags={"pmed.run_id": run.info.run_id})
    return LoggedVersion(run_id=run.info.run_id, version=str(version.version))


def reap_stale_runs(client: MlflowClient, experiment_name: str) -> list[str]:
    """Mark as KILLED the runs still RUNNING whose training process on this host is gone.

    A process killed mid-run (SIGKILL, power loss) cannot end its MLflow run, which then shows as running
    forever in the UI. Only runs started on this host by a process that no longer exists are touched,
    so a concurrent training run is never reaped.
    """
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return []
    reaped = []
    host = socket.gethostname()
    for run in client.search_runs([experiment.experiment_id], "attributes.status = 'RUNNING'", max_results=1000):
        pid = run.data.tags.get(PID_TAG, "")
        if run.data.tags.get(HOST_TAG) != host or not pid.isdigit() or _alive(int(pid)):
            continue
        client.set_tag(run.info.run_id, "pmed.reaped", "process gone; marked KILLED by a later training run")
        client.set_terminated(run.info.run_id, status="KILLED")
        reaped.append(run.info.run_id)
    return reaped


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def model_requirements() -> list[str]:
    """What loading the pyfunc needs: pmed itself (the bundle reader) and the versions it was trained with."""
    import sklearn
    import xgboost

    return [f"xgboost-cpu=={xgboost.__version__}", f"scikit-learn=={sklearn.__version__}",
            f"pandas=={pd.__version__}", f"mlflow=={mlflow.__version__}", "pmed"]


def verify_version(client: MlflowClient, model_name: str, version: str) -> None:
    """Download a registered version and check its bundle exactly as serving will."""
    with tempfile.TemporaryDirectory() as tmp:
        local = download_version(client, model_name, version, Path(tmp))
        read_bundle(local)


def record_gates(client: MlflowClient, model_name: str, version: str, passed: bool,
                 details: list[dict[str, Any]]) -> None:
    client.set_model_version_tag(model_name, version, GATES_TAG, "passed" if passed else "failed")
    client.set_model_version_tag(model_name, version, "pmed.gate_results", json.dumps(details)[:4000])


def conclude_version(client: MlflowClient, model_name: str, version: str, gates: list[dict[str, Any]],
                     alias: str = "champion") -> bool:
    """The one ending of every training pipeline: verify the registered version as serving will, record its
    gates, and move ``alias`` only if every gate passed. Returns whether the alias moved.

    The failpoints bracket the two steps a crash must never half-do (see tests/training/test_crash.py).
    """
    failpoint("after_register")
    verify_version(client, model_name, version)
    passed = all(bool(g["passed"]) for g in gates)
    record_gates(client, model_name, version, passed, gates)
    if passed:
        failpoint("before_alias")
        set_alias(client, model_name, alias, version)
    return passed


def set_alias(client: MlflowClient, model_name: str, alias: str, version: str) -> None:
    client.set_registered_model_alias(model_name, alias, version)
