"""Served models: resolved once by alias, verified, and held in a store that handlers read.

The store swaps a whole ``ServedModel`` at once, so a request sees one consistent version (booster,
calibrator, feature spec) even if a reload happens mid-flight.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlflow import MlflowClient
from pydantic import BaseModel

from pmed.bundle import Bundle, read_bundle
from pmed.registry import download_version, version_for_alias
from serving.validation import features_model

log = logging.getLogger("pmed.serving")


@dataclass(frozen=True)
class ServedModel:
    name: str
    version: str
    alias: str
    bundle: Bundle
    request_model: type[BaseModel]

    @property
    def features(self) -> list[dict[str, Any]]:
        return self.bundle.feature_spec["features"]


def served_model_from_bundle(name: str, version: str, alias: str, bundle: Bundle) -> ServedModel:
    return ServedModel(name=name, version=version, alias=alias, bundle=bundle,
                       request_model=features_model(name, bundle.feature_spec["features"]))


@dataclass
class ModelStore:
    """Thread-safe map of model name -> the version currently served."""

    expected: list[str]
    _models: dict[str, ServedModel] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, model: ServedModel) -> None:
        with self._lock:
            self._models[model.name] = model

    def get(self, name: str) -> ServedModel | None:
        return self._models.get(name)

    def all(self) -> list[ServedModel]:
        return [m for n in self.expected if (m := self._models.get(n)) is not None]

    def missing(self) -> list[str]:
        return [n for n in self.expected if n not in self._models]

    @property
    def ready(self) -> bool:
        return not self.missing()


def load_by_alias(client: MlflowClient, name: str, alias: str, cache_dir: Path) -> ServedModel:
    """Resolve ``models:/<name>@<alias>``, download that version's bundle and verify it."""
    mv = version_for_alias(client, name, alias)
    if mv is None:
        raise LookupError(f"no version of {name} carries the alias {alias!r} yet")
    dest = cache_dir / name / str(mv.version)
    dest.mkdir(parents=True, exist_ok=True)
    bundle = read_bundle(download_version(client, name, str(mv.version), dest))
    return served_model_from_bundle(name, str(mv.version), alias, bundle)


def load_until_ready(store: ModelStore, client: MlflowClient, alias: str, cache_dir: Path,
                     stop: threading.Event, retry_seconds: float = 5.0) -> None:
    """Background loader: keep trying each missing model until all are served or we are stopped."""
    while not stop.is_set():
        for name in store.missing():
            try:
                store.put(load_by_alias(client, name, alias, cache_dir))
                log.info("serving %s version %s (@%s)", name, store.get(name).version, alias)
            except Exception as exc:  # noqa: BLE001 (any failure: keep serving what we have, retry)
                log.warning("cannot load %s@%s yet: %s", name, alias, exc)
        if store.ready:
            return
        stop.wait(retry_seconds)
