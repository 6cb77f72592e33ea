"""The model bundle: the data-only files a registered model version carries, and their manifest.

Training writes a bundle; serving reads one. A bundle holds no code and nothing pickled: the booster in
XGBoost's own UBJSON format, calibrator parameters and the feature spec as JSON, and a manifest of
SHA-256 digests. A model may carry extra data files (more UBJ boosters, JSON), each listed in the
manifest's ``extra_files`` and digested like the rest. Reading refuses any file whose digest does not
match, any path that leaves the bundle folder, and any file the manifest does not list, so a tampered
registry cannot make serving run code.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from kernel.artifact import Artifact, ArtifactError
from kernel.artifacts import load_kinds, parse_artifact
from kernel.calibration import Calibrator, calibrator_from_dict

BOOSTER_FILE = "booster.ubj"
CALIBRATOR_FILE = "calibrator.json"
FEATURE_SPEC_FILE = "feature_spec.json"
MANIFEST_FILE = "manifest.json"
CARD_FILES = ("model_card.md", "model_card.html")
BUNDLE_FILES = (BOOSTER_FILE, CALIBRATOR_FILE, FEATURE_SPEC_FILE)
MANIFEST_VERSION = 1
EXTRA_NAME = re.compile(r"[a-z0-9_]{1,64}\.(ubj|json)")  # data formats only: nothing executable or pickled


class BundleError(Exception):
    """A bundle is missing, incomplete or does not match its manifest."""


@dataclass(frozen=True)
class Bundle:
    booster: xgb.Booster
    calibrator: Calibrator
    spec: Artifact  # the typed artifact (feature_spec.json): task, features, and the task's own fields
    digests: dict[str, str]
    cards: dict[str, str]  # model card by file name (Markdown, HTML), when the bundle carries one
    extras: dict[str, bytes] = field(default_factory=dict)  # verified extra data files by name

    @property
    def feature_names(self) -> list[str]:
        return self.spec.feature_names

    def risk(self, X: np.ndarray) -> np.ndarray:
        """Calibrated risk for rows of X (features in ``feature_names`` order, NaN = missing).

        ``inplace_predict`` runs on the booster's own thread count (1 when loaded for serving); a DMatrix
        would be built on every core, and in a busy server that OpenMP start-up cost up to 16 ms a row.
        """
        margin = self.booster.inplace_predict(X, predict_type="margin", missing=np.nan)
        return self.calibrator.predict(margin)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_bundle(folder: Path, booster: xgb.Booster, calibrator: Calibrator, spec: Artifact | dict[str, Any],
                 cards: Sequence[Path] = (), extras: Sequence[Path] = ()) -> dict[str, str]:
    """Write the bundle files (and model-card and extra data files, if given) with their manifest; return the digests.

    A dict ``spec`` is validated against its task's artifact class first, so training cannot write an
    artifact that serving would refuse.
    """
    artifact = spec if isinstance(spec, Artifact) else _typed(spec)
    folder.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(folder / BOOSTER_FILE))
    _write_json(folder / CALIBRATOR_FILE, calibrator.to_dict())
    _write_json(folder / FEATURE_SPEC_FILE, artifact.to_json_dict())
    for card in cards:
        if card.name not in CARD_FILES:
            raise BundleError(f"{card.name} is not a model-card file ({', '.join(CARD_FILES)})")
        (folder / card.name).write_bytes(card.read_bytes())
    for extra in extras:
        if not EXTRA_NAME.fullmatch(extra.name) or extra.name in (*BUNDLE_FILES, *CARD_FILES, MANIFEST_FILE):
            raise BundleError(f"{extra.name} is not an allowed extra file name ({EXTRA_NAME.pattern})")
        (folder / extra.name).write_bytes(extra.read_bytes())
    names = [*BUNDLE_FILES, *(c.name for c in cards), *(e.name for e in extras)]
    digests = {name: sha256_file(folder / name) for name in names}
    manifest = {"manifest_version": MANIFEST_VERSION, "sha256": digests}
    if extras:
        manifest["extra_files"] = sorted(e.name for e in extras)
    _write_json(folder / MANIFEST_FILE, manifest)
    return digests


def read_bundle(folder: Path, nthread: int = 1) -> Bundle:
    """Verify and load a bundle. ``nthread=1`` because a server runs one booster thread per process."""
    digests = _verified_digests(folder)
    booster = xgb.Booster(params={"nthread": nthread})
    booster.load_model(str(_inside(folder, BOOSTER_FILE)))
    load_kinds()  # a kind of model may bring its own calibrator (registered by its artifact module)
    calibrator = calibrator_from_dict(_read_json(_inside(folder, CALIBRATOR_FILE)))
    spec = _typed(_read_json(_inside(folder, FEATURE_SPEC_FILE)))
    names = spec.feature_names
    if booster.num_features() != len(names):
        raise BundleError(f"booster expects {booster.num_features()} features, spec lists {len(names)}")
    cards = {name: _inside(folder, name).read_text(encoding="utf-8") for name in CARD_FILES if name in digests}
    extras = {name: _inside(folder, name).read_bytes() for name in _extra_names(_read_json(folder / MANIFEST_FILE))}
    return Bundle(booster=booster, calibrator=calibrator, spec=spec, digests=digests, cards=cards, extras=extras)


def _typed(raw: Any) -> Artifact:
    """The artifact of a feature-spec dict, or a BundleError saying which contract it breaks."""
    if not isinstance(raw, dict):
        raise BundleError(f"{FEATURE_SPEC_FILE} is not a JSON object")
    try:
        return parse_artifact(raw)
    except (ArtifactError, ValueError) as exc:
        raise BundleError(f"{FEATURE_SPEC_FILE} does not fit its task's artifact: {exc}") from exc


def _verified_digests(folder: Path) -> dict[str, str]:
    manifest_path = _inside(folder, MANIFEST_FILE)
    if not manifest_path.is_file():
        raise BundleError(f"no {MANIFEST_FILE} in {folder.name}")
    manifest = _read_json(manifest_path)
    digests = manifest.get("sha256", {})
    listed = set(digests)
    if manifest.get("manifest_version") != MANIFEST_VERSION or not set(BUNDLE_FILES) <= listed \
            or not listed <= set(BUNDLE_FILES) | set(CARD_FILES) | _extra_names(manifest):
        raise BundleError(f"{MANIFEST_FILE} must list {', '.join(BUNDLE_FILES)} (and optionally the model card "
                          "and extra data files named in extra_files)")
    for name, expected in digests.items():
        path = _inside(folder, name)
        if not path.is_file() or sha256_file(path) != expected:
            raise BundleError(f"{name} does not match its SHA-256 in {MANIFEST_FILE}")
    return dict(digests)


def _extra_names(manifest: dict[str, Any]) -> set[str]:
    """Extra data files the manifest declares; a bad name or one not digested is a refusal."""
    names = manifest.get("extra_files", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and EXTRA_NAME.fullmatch(n) for n in names) \
            or not set(names) <= set(manifest.get("sha256", {})):
        raise BundleError(f"{MANIFEST_FILE}: extra_files must be digested data files ({EXTRA_NAME.pattern})")
    return set(names)


def _inside(folder: Path, name: str) -> Path:
    """Resolve ``name`` under ``folder`` and refuse links or paths that escape it."""
    path = folder / name
    if path.is_symlink() or path.resolve().parent != folder.resolve():
        raise BundleError(f"{name} is not a plain file inside the bundle")
    return path


def _write_json(path: Path, payload: Any) -> None:
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path.name} is not readable JSON") from exc
