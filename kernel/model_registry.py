"""Registry access shared by training (verify before promoting) and serving (load by alias)."""

from __future__ import annotations

from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from kernel.settings import Settings


def registry_client(settings: Settings) -> MlflowClient:
    """A client bound to pmed's tracking AND registry URIs.

    ``MlflowClient(tracking_uri)`` alone takes the registry from MLflow's process-wide default, which
    another component may have pointed elsewhere; naming both keeps every read on the right store.
    """
    return MlflowClient(settings.mlflow_tracking_uri, settings.mlflow_registry_uri)


def version_for_alias(client: MlflowClient, model_name: str, alias: str) -> ModelVersion | None:
    """The version an alias points at, or None when the model or the alias does not exist yet."""
    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException:
        return None


def download_version(client: MlflowClient, model_name: str, version: str, dest: Path) -> Path:
    """Fetch only a version's bundle files into ``dest``; return the bundle folder.

    The location comes from the registry entry itself, never from a request, and what arrives is
    trusted only after ``kernel.bundle.read_bundle`` has checked it against the manifest.
    """
    mv = client.get_model_version(model_name, version)
    model_id = mv.model_id or (mv.source or "").removeprefix("models:/")  # MLflow 3 keeps the id in source
    logged = client.get_logged_model(model_id)
    uri = logged.artifact_location.rstrip("/") + "/artifacts"
    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dest),
                                                tracking_uri=client.tracking_uri)
    return Path(local)
