"""`make run`'s treatment step: the demo trial is simulated once, the model registered and promoted, and a
compare-treatments body written for the printed curl line; a second run reuses the champion."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pmed import cli
from kernel.model_registry import version_for_alias
from kernel.settings import Settings
from training.tracking import configure_mlflow

pytestmark = pytest.mark.slow  # simulates three small trials and fits 26 boosters (~15 s)


def test_demo_trial_trains_once_and_writes_a_compare_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMED_HOME", str(tmp_path / ".pmed"))
    monkeypatch.setattr(cli, "DEMO_TRIALS", (("train", 6000, 1), ("cal", 3000, 101), ("test", 1000, 201)))
    settings = Settings(_env_file=None)
    assert cli._demo_trial(settings)
    champion = version_for_alias(configure_mlflow(settings), cli.TREATMENT_MODEL, "champion")
    assert champion is not None
    body = json.loads(cli._example_trial_request(settings).read_text())
    features = body["patients"][0]["features"]
    assert features["cyp2c19_phenotype_code"] == 1.0 and set(features) >= {"age_years", "egfr_ml_min"}
    assert "treated" not in features  # every arm is scored; the treatment is not an input
    (settings.demo_trial_dir / "train" / "trial.csv").unlink()  # a rerun must not need the trial again
    assert cli._demo_trial(settings)
    again = version_for_alias(configure_mlflow(settings), cli.TREATMENT_MODEL, "champion")
    assert again.version == champion.version
    listed = CliRunner().invoke(cli.app, ["models"], env={"PMED_HOME": str(tmp_path / ".pmed")})
    line = next(x for x in listed.output.splitlines() if x.startswith(cli.TREATMENT_MODEL))
    assert re.search(r"PEHE 0\.0\d{3}  coverage 0\.9\d\d  @champion", line), line
