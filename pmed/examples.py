"""Ready-to-send request bodies for the curl lines `pmed demo` prints, written into PMED_HOME."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kernel.settings import Settings


def example_request(settings: Settings) -> Path:
    """Write a ready-to-send predict body built from the cad_risk champion's typical feature values.

    Without a champion nothing is written; the path is returned all the same."""
    import tempfile

    from kernel.bundle import read_bundle
    from kernel.model_registry import download_version, version_for_alias
    from training.tracking import configure_mlflow

    client = configure_mlflow(settings)
    mv = version_for_alias(client, "cad_risk", "champion")
    path = settings.resolved_home / "demo-request.json"
    if mv is None:
        return path
    with tempfile.TemporaryDirectory() as tmp:
        spec = read_bundle(download_version(client, "cad_risk", str(mv.version), Path(tmp))).spec
    features = {f.name: f.example for f in spec.features}
    return _write(path, {"patients": [{"patient_id": "demo-patient-1", "features": features}]})


def example_trial_request(settings: Settings) -> Path:
    """A compare-treatments body: one patient of the demo test trial (a CYP2C19 intermediate metabolizer)."""
    from features.trial import FEATURES, read_trial

    test = read_trial(settings.demo_trial_dir / "test")
    row = test[test["cyp2c19_phenotype"] == "Intermediate Metabolizer"].iloc[0]
    features = {name: None if row[name] != row[name] else float(row[name]) for name in FEATURES}
    path = settings.resolved_home / "demo-compare-request.json"
    return _write(path, {"patients": [{"patient_id": "demo-trial-patient-1", "features": features}]})


def _write(path: Path, body: dict[str, Any]) -> Path:
    path.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    return path
