"""Progress bars: drawn on a terminal (or when forced), silent in CI logs, fed by real boosting rounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.progress import progress_bar
from training.data import load_training_data
from training.fit import fit_model
from training.spec import load_spec
from training.split import split_cohort

REPO = Path(__file__).resolve().parents[1]


def test_bar_draws_only_when_wanted(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PMED_PROGRESS", "0")
    with progress_bar("quiet step", 3) as advance:
        advance(3)
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("PMED_PROGRESS", "1")
    with progress_bar("loud step", 3) as advance:
        advance(3)
    assert "loud step" in capsys.readouterr().err


def test_fit_reports_every_boosting_round(feature_dir: Path) -> None:
    spec = load_spec(REPO / "tests" / "specs" / "cad_risk_binary.yaml")
    data = load_training_data(feature_dir, spec)
    split = split_cohort(data.keys, data.cohort, spec.split, spec.seed)
    rounds: list[int] = []
    fitted = fit_model(spec, data, split, rounds.append)
    # every round until early stopping ended the run, which ran past the best one
    assert len(rounds) >= fitted.best_iteration + 1
    assert len(rounds) <= fitted.best_iteration + 1 + spec.xgboost.early_stopping_rounds
