"""Served models: resolved once by alias, verified, and held in a store that handlers read.

The store swaps a whole ``ServedModel`` at once, so a request sees one consistent version (booster,
calibrator, artifact, the state built for it) even if a reload happens mid-flight.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from mlflow import MlflowClient

from kernel.bundle import Bundle, read_bundle
from kernel.model_registry import download_version, version_for_alias
from serving.explain import Explainer
from serving.metrics import ServingMetrics
from serving.served import ServedModel, TaskRefusal
from serving.task import task_for
from serving.validation import features_model

__all__ = ["ModelStore", "ReloadResult", "Reloader", "ServedModel", "VerificationError", "load_by_alias",
           "load_version", "served_model_from_bundle"]

log = logging.getLogger("pmed.serving")


class VerificationError(Exception):
    """A downloaded version failed its manifest check or could not be loaded from its files."""




def served_model_from_bundle(name: str, version: str, alias: str, bundle: Bundle) -> ServedModel:
    """Check the bundle against its task, then build every per-version piece before it can be served."""
    try:
        task = task_for(bundle.spec.task)
        task.check(bundle)
    except TaskRefusal as exc:
        raise VerificationError(str(exc)) from exc
    request_model = features_model(name, bundle.spec.features)
    return ServedModel(name=name, version=version, alias=alias, bundle=bundle, request_model=request_model,
                       task=task, explainer=Explainer.of(bundle.booster),
                       state=task.prepare(name, bundle, request_model))


@dataclass
class ModelStore:
    """Thread-safe map of model name -> the version served (and, optionally, a shadow version).

    ``put`` replaces one reference under a lock; a handler that took a ``ServedModel`` keeps using
    that whole object, so a swap never mixes two versions inside one request.
    """

    expected: list[str]
    _models: dict[str, ServedModel] = field(default_factory=dict)
    _shadows: dict[str, ServedModel] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, model: ServedModel) -> None:
        with self._lock:
            self._models[model.name] = model

    def get(self, name: str) -> ServedModel | None:
        return self._models.get(name)

    def put_shadow(self, model: ServedModel) -> None:
        with self._lock:
            self._shadows[model.name] = model

    def shadow(self, name: str) -> ServedModel | None:
        return self._shadows.get(name)

    def drop_shadow(self, name: str) -> None:
        with self._lock:
            self._shadows.pop(name, None)

    def all(self) -> list[ServedModel]:
        return [m for n in self.expected if (m := self._models.get(n)) is not None]

    def missing(self) -> list[str]:
        return [n for n in self.expected if n not in self._models]

    @property
    def ready(self) -> bool:
        return not self.missing()


def load_version(client: MlflowClient, name: str, version: str, alias: str, cache_dir: Path) -> ServedModel:
    """Download one registered version into a private folder, verify it fully, and load it.

    The folder is removed afterwards (everything needed is in memory), so a half-written or tampered
    download can never be picked up later, and two server processes never share a folder.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{name}-{version}-", dir=cache_dir) as tmp:
        local = download_version(client, name, version, Path(tmp))
        try:
            bundle = read_bundle(local)
        except Exception as exc:  # any defect in the files is a refusal, not a retry
            raise VerificationError(f"{type(exc).__name__}: {exc}") from exc
    return served_model_from_bundle(name, version, alias, bundle)


def load_by_alias(client: MlflowClient, name: str, alias: str, cache_dir: Path) -> ServedModel:
    """Resolve ``models:/<name>@<alias>``, download that version's bundle and verify it."""
    mv = version_for_alias(client, name, alias)
    if mv is None:
        raise LookupError(f"no version of {name} carries the alias {alias!r} yet")
    return load_version(client, name, str(mv.version), alias, cache_dir)


@dataclass(frozen=True)
class ReloadResult:
    """What one poll did for one (model, alias): the version served after it, and why."""

    model: str
    alias: str
    version: str | None
    result: str  # loaded | unchanged | refused | error | no_alias | dropped
    detail: str = ""


class Reloader:
    """Keeps the store in step with the registry: loads, verifies, then swaps when an alias moves.

    A version that fails verification is remembered and not downloaded again on every poll (a forced
    poll retries it); a registry or download error is retried on the next poll. Either way the version
    already served keeps serving. One lock serialises the background poller and forced reloads.
    """

    def __init__(self, store: ModelStore, client: MlflowClient, alias: str, shadow_alias: str | None,
                 cache_dir: Path, metrics: ServingMetrics | None = None) -> None:
        self.store = store
        self._client = client
        self._alias = alias
        self._shadow_alias = shadow_alias if shadow_alias != alias else None
        self._cache_dir = cache_dir
        self._metrics = metrics
        self._refused: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def poll(self, names: list[str] | None = None, force: bool = False) -> list[ReloadResult]:
        with self._lock:
            results = []
            for name in names or self.store.expected:
                results.append(self._sync(name, self._alias, shadow=False, force=force))
                if self._shadow_alias:
                    results.append(self._sync(name, self._shadow_alias, shadow=True, force=force))
            return results

    def run(self, stop: threading.Event, interval: float, retry: float = 5.0) -> None:
        """Poll until stopped; with ``interval == 0``, only until every model is loaded once."""
        while not stop.is_set():
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 (the poller must outlive any one bad poll)
                log.error("registry poll failed: %s", type(exc).__name__)
            if self.store.ready and not interval:
                return
            stop.wait(interval if self.store.ready else min(interval or retry, retry))

    def _sync(self, name: str, alias: str, shadow: bool, force: bool) -> ReloadResult:
        current = self.store.shadow(name) if shadow else self.store.get(name)
        served = current.version if current else None
        try:
            mv = version_for_alias(self._client, name, alias)
        except Exception as exc:  # noqa: BLE001
            return self._failed(name, alias, served, "error", f"registry unreachable: {type(exc).__name__}")
        if mv is None:
            if shadow and current is not None:
                self.store.drop_shadow(name)
                self._swapped(name, alias, served, None)
                log.info("shadow %s@%s removed from the registry: no longer scored", name, alias)
                return ReloadResult(name, alias, None, "dropped")
            return ReloadResult(name, alias, served, "no_alias")
        version = str(mv.version)
        if version == served:
            return ReloadResult(name, alias, served, "unchanged")
        if (name, version) in self._refused and not force:
            return ReloadResult(name, alias, served, "refused", f"version {version} failed verification earlier")
        try:
            model = self._load(name, version, alias)
        except VerificationError as exc:
            self._refused.add((name, version))
            return self._failed(name, alias, served, "refused", f"version {version} refused: {exc}")
        except Exception as exc:  # noqa: BLE001 (download or registry trouble: retry next poll)
            return self._failed(name, alias, served, "error", f"version {version} not loaded: {type(exc).__name__}")
        self._refused.discard((name, version))
        (self.store.put_shadow if shadow else self.store.put)(model)
        self._swapped(name, alias, served, version)
        log.info("%s %s version %s (@%s)%s", "shadowing" if shadow else "serving", name, version, alias,
                 f", replacing version {served}" if served else "")
        return ReloadResult(name, alias, version, "loaded")

    def _load(self, name: str, version: str, alias: str) -> ServedModel:
        """Reuse a copy already verified under the other alias (champion == challenger), else download."""
        for other in (self.store.get(name), self.store.shadow(name)):
            if other is not None and other.version == version:
                return replace(other, alias=alias)
        return load_version(self._client, name, version, alias, self._cache_dir)

    def _failed(self, name: str, alias: str, served: str | None, result: str, detail: str) -> ReloadResult:
        still = f"still serving version {served}" if served else "nothing served for it yet"
        log.warning("%s@%s: %s; %s", name, alias, detail, still)
        if self._metrics:
            self._metrics.reloads.labels(name, alias, result).inc()
        return ReloadResult(name, alias, served, result, detail)

    def _swapped(self, name: str, alias: str, old: str | None, new: str | None) -> None:
        if self._metrics:
            self._metrics.reloads.labels(name, alias, "loaded" if new else "dropped").inc()
            self._metrics.model_swapped(name, alias, old, new)
