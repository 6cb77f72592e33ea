"""Kill training with SIGKILL at each named point: the champion never moves, and every registered
version that exists afterwards is complete (its bundle verifies), so nothing half-written can serve."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from kernel.bundle import read_bundle
from kernel.model_registry import download_version, registry_client, version_for_alias
from kernel.settings import Settings
from tests.conftest import REPO, write_feature_table
from training.failpoints import POINTS

PMED = str(Path(sys.executable).with_name("pmed"))


def _lean_spec(folder: Path) -> Path:
    """The CAD spec without baselines and with few bootstrap resamples: the crash points are what is tested."""
    raw = yaml.safe_load((REPO / "tests" / "specs" / "cad_risk_binary.yaml").read_text())
    raw.update(baselines=[], subgroups=["sex"], bootstrap_samples=20)
    path = folder / "cad_risk.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _train(home: Path, features: Path, failpoint: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PMED_HOME": str(home), "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
    env.pop("PMED_FAILPOINT", None)
    if failpoint:
        env["PMED_FAILPOINT"] = failpoint
    return subprocess.run([PMED, "train", str(_lean_spec(home.parent)), "--features", str(features)],
                          env=env, capture_output=True, text=True, timeout=300, cwd=REPO, check=False)


@pytest.mark.slow
def test_sigkill_at_any_point_never_moves_champion_or_leaves_a_broken_version(tmp_path: Path) -> None:
    home, features = tmp_path / ".pmed", write_feature_table(tmp_path / "features", n=3000, seed=31)
    first = _train(home, features)
    assert first.returncode == 0, first.stderr
    client = registry_client(Settings(home=home, _env_file=None))
    later_output = []
    for point in POINTS:
        killed = _train(home, features, point)
        later_output.append(killed.stdout)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stdout, killed.stderr)
        assert str(version_for_alias(client, "cad_risk", "champion").version) == "1", point
    versions = client.search_model_versions("name='cad_risk'")
    assert len(versions) == 3  # v1, plus the runs killed after registering and before the alias move
    for mv in versions:
        with tempfile.TemporaryDirectory() as tmp:
            read_bundle(download_version(client, "cad_risk", str(mv.version), Path(tmp)))  # complete and verified
    clean = _train(home, features)
    assert clean.returncode == 0  # and the next clean run promotes normally
    assert str(version_for_alias(client, "cad_risk", "champion").version) == "4"
    # the run killed mid-logging was left RUNNING; the next training run on this host marked it KILLED
    experiment = client.get_experiment_by_name("pmed").experiment_id
    assert not client.search_runs([experiment], "attributes.status = 'RUNNING'")
    reaped = client.search_runs([experiment], "attributes.status = 'KILLED'")
    assert len(reaped) == 1 and "pmed.reaped" in reaped[0].data.tags
    assert sum("marked KILLED" in out for out in [*later_output, clean.stdout]) == 1
