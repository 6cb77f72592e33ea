"""`make run`'s treatment step: the demo trial is simulated once, the model registered and promoted, and a
compare-treatments body written for the printed curl line; a second run reuses the champion."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kernel.model_registry import version_for_alias
from kernel.settings import Settings
from pmed import cli, demo, examples
from training.tracking import configure_mlflow

pytestmark = pytest.mark.slow  # simulates three small trials and fits 26 boosters (~15 s)


def test_demo_trial_trains_once_and_writes_a_compare_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMED_HOME", str(tmp_path / ".pmed"))
    monkeypatch.setattr(demo, "DEMO_TRIALS", (("train", 6000, 1), ("cal", 3000, 101), ("test", 1000, 201)))
    settings = Settings(_env_file=None)
    assert demo.demo_trial(settings)
    champion = version_for_alias(configure_mlflow(settings), demo.TREATMENT_MODEL, "champion")
    assert champion is not None
    body = json.loads(examples.example_trial_request(settings).read_text())
    features = body["patients"][0]["features"]
    assert features["cyp2c19_phenotype_code"] == 1.0 and set(features) >= {"age_years", "egfr_ml_min"}
    assert "treated" not in features  # every arm is scored; the treatment is not an input
    (settings.demo_trial_dir / "train" / "trial.csv").unlink()  # a rerun must not need the trial again
    assert demo.demo_trial(settings)
    again = version_for_alias(configure_mlflow(settings), demo.TREATMENT_MODEL, "champion")
    assert again.version == champion.version
    listed = CliRunner().invoke(cli.app, ["models"], env={"PMED_HOME": str(tmp_path / ".pmed")})
    line = next(x for x in listed.output.splitlines() if x.startswith(demo.TREATMENT_MODEL))
    assert re.search(r"PEHE 0\.0\d{3}  coverage 0\.9\d\d  @champion", line), line


def test_demo_serves_the_treatment_model_only_beside_the_default_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PMED_SERVED_MODELS", raising=False)
    default = Settings(_env_file=None)
    assert demo.served_settings(default, with_trial=True).served_models == [*default.served_models,
                                                                            demo.TREATMENT_MODEL]
    assert demo.served_settings(default, with_trial=False).served_models == default.served_models
    chosen = Settings(served_models=["t2d_risk"], _env_file=None)
    assert demo.served_settings(chosen, with_trial=True).served_models == ["t2d_risk"]
    assert "PMED_SERVED_MODELS" not in os.environ  # passed to the app, not through the environment
