"""`pmed train SPEC --dry-run`: the spec checked, the data read and split as training would, counts per split and
a warning on too few test events; nothing fitted, logged or registered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from typer.testing import CliRunner

from kernel.settings import Settings
from pmed.cli import app
from training.dry_run import auroc_ci_halfwidth, dry_run
from training.errors import DataError
from training.spec import load_spec
from training.split import split_cohort
from training.task import RunInputs

RISK_SPEC: dict[str, Any] = {
    "name": "hf_readmission", "description": "30-day readmission (a user's own cohort).",
    "intended_use": "Test of the dry run; not a clinical model.", "target": "readmitted", "horizon_years": 0.08,
    "id_column": "subject", "features": ["age_years", "ef_pct"], "subgroups": [],
    "declared_features": [{"name": "ef_pct", "display_name": "Ejection fraction", "unit": "%", "kind": "continuous",
                           "min": 5, "max": 85}],
}
SURVIVAL_SPEC: dict[str, Any] = {
    "name": "hf_death", "description": "Death within a year (a user's own cohort).",
    "intended_use": "Test of the dry run; not a clinical model.", "task": "survival", "target": "died",
    "id_column": "subject", "features": ["age_years", "ef_pct"], "subgroups": [],
    "declared_features": RISK_SPEC["declared_features"],
    "survival": {"time_column": "days", "event_column": "died", "horizon_days": 365},
}


def table(path: Path, n: int = 400, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"subject": [f"S{i:04d}" for i in range(n)], "age_years": rng.integers(40, 90, n),
                          "ef_pct": rng.integers(15, 70, n)})
    frame["readmitted"] = (rng.random(n) < 0.2).astype(float)
    frame.loc[:9, "readmitted"] = np.nan  # not at risk
    event_time, censor = rng.exponential(500, n) + 1, rng.uniform(100, 900, n)
    frame["days"] = np.round(np.minimum(event_time, censor)) + 1
    frame["died"] = (event_time <= censor).astype(int)
    frame.to_csv(path, index=False)
    return path


def write(folder: Path, spec: dict[str, Any]) -> Path:
    path = folder / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_risk_counts_match_the_split_training_uses(tmp_path: Path) -> None:
    data = table(tmp_path / "t.csv")
    spec = load_spec(write(tmp_path, RISK_SPEC))
    run = dry_run(spec, RunInputs(tmp_path / "x.yaml", table=data))
    frame = pd.read_csv(data).dropna(subset=["readmitted"]).reset_index(drop=True)
    split = split_cohort(frame["subject"].astype(str), frame, spec.split, spec.seed)
    assert (run.rows, run.used) == (400, 390)
    assert [(p.name, p.patients, p.events) for p in run.parts] == [
        (name, len(rows), int(frame["readmitted"].to_numpy()[rows].sum()))
        for name, rows in (("train", split.train), ("validation", split.validation), ("test", split.test))]
    assert any("10 row(s) with an empty readmitted are not at risk" in line for line in run.info)
    assert any("the gates need at least 20 test events" in line for line in run.info)


def test_too_few_test_events_warn_and_name_cross_validation(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, {**RISK_SPEC, "gates": {"min_test_events": 500}}))
    run = dry_run(spec, RunInputs(tmp_path / "x.yaml", table=table(tmp_path / "t.csv")))
    assert any("below min_test_events 500" in w and "evaluation: {cv_folds" in w for w in run.warnings)
    assert any("training will evaluate by 5-fold x 2 repeated cross-validation" in line for line in run.info)
    assert any("validation studies aim for >= 100" in w for w in run.warnings)


def test_survival_counts_censoring_before_the_horizon_and_follow_up(tmp_path: Path) -> None:
    data = table(tmp_path / "t.csv")
    run = dry_run(load_spec(write(tmp_path, SURVIVAL_SPEC)), RunInputs(tmp_path / "x.yaml", table=data))
    frame = pd.read_csv(data)
    assert run.used == 400 and sum(p.patients for p in run.parts) == 400
    assert sum(p.events or 0 for p in run.parts) == int(frame["died"].sum())
    early = int(((frame["died"] == 0) & (frame["days"] < 365)).sum())
    assert sum(p.censored_before_horizon or 0 for p in run.parts) == early > 0
    lows, highs = zip(*(p.follow_up_days or (0.0, 0.0) for p in run.parts), strict=True)
    assert min(lows) == frame["days"].min() and max(highs) == frame["days"].max()
    assert "censored before the horizon, follow-up" in run.parts[2].line()


def test_a_table_training_would_refuse_is_refused_the_same_way(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, {**SURVIVAL_SPEC, "survival": {**SURVIVAL_SPEC["survival"],
                                                                     "horizon_days": 5000}}))
    with pytest.raises(DataError, match="beyond the follow-up"):
        dry_run(spec, RunInputs(tmp_path / "x.yaml", table=table(tmp_path / "t.csv")))
    path = table(tmp_path / "bad.csv")
    pd.read_csv(path).assign(ef_pct=lambda f: f["ef_pct"].where(f.index != 4, 120)).to_csv(path, index=False)
    with pytest.raises(DataError, match="column ef_pct: values must lie in 5-85"):
        dry_run(load_spec(write(tmp_path, RISK_SPEC)), RunInputs(tmp_path / "x.yaml", table=path))


def test_placeholders_left_by_spec_init_are_named(tmp_path: Path) -> None:
    declared = [{**RISK_SPEC["declared_features"][0], "unit": ""}]
    spec = load_spec(write(tmp_path, {**RISK_SPEC, "description": "TODO: what it predicts",
                                      "declared_features": declared}))
    run = dry_run(spec, RunInputs(tmp_path / "x.yaml", table=table(tmp_path / "t.csv")))
    assert run.warnings[0] == "still to fill in: description, declared_features.ef_pct.unit"


def test_the_cli_prints_counts_and_logs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMED_HOME", str(tmp_path / ".pmed"))
    result = CliRunner().invoke(app, ["train", str(write(tmp_path, SURVIVAL_SPEC)), "--table",
                                      str(table(tmp_path / "t.csv")), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "dry run of hf_death (task survival): spec valid; 400 rows read" in result.output
    assert "[pmed] test " in result.output and "nothing fitted, logged or registered" in result.output
    uri = Settings(home=tmp_path / ".pmed", _env_file=None).mlflow_tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)  # not the registry an earlier test set globally
    assert client.search_registered_models() == []
    assert all(not client.search_runs([e.experiment_id]) for e in client.search_experiments())


def test_a_task_without_a_counter_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PMED_HOME", str(tmp_path / ".pmed"))
    spec = Path(__file__).resolve().parents[2] / "models" / "antiplatelet_response.yaml"
    result = CliRunner().invoke(app, ["train", str(spec), "--dry-run"])
    assert result.exit_code == 1
    assert "--dry-run is not supported for task treatment_response" in result.output


def test_the_auroc_ci_width_follows_hanley_and_mcneil() -> None:
    assert auroc_ci_halfwidth(50, 50) == pytest.approx(1.96 * 0.048836, rel=1e-3)
    assert auroc_ci_halfwidth(20, 100) > auroc_ci_halfwidth(100, 100) > auroc_ci_halfwidth(400, 400)
    assert np.isnan(auroc_ci_halfwidth(0, 10))


def test_quarantined_rows_are_counted_and_conserved(tmp_path: Path) -> None:
    path = table(tmp_path / "t.csv")
    pd.read_csv(path).assign(ef_pct=lambda f: f["ef_pct"].where(~f.index.isin([20, 21, 22]), 120)).to_csv(
        path, index=False)
    spec = load_spec(write(tmp_path, {**RISK_SPEC, "on_invalid": "quarantine"}))
    run = dry_run(spec, RunInputs(tmp_path / "x.yaml", table=path, quarantine_dir=tmp_path / "q"))
    assert (run.rows, run.quarantined, run.used) == (400, 3, 387)  # 10 more not at risk
    assert "400 rows read, 3 quarantined, 387 patients used" in run.lines()[0]
    assert len(pd.read_csv(tmp_path / "q" / "table-hf_readmission.csv")) == 3


def test_dose_counts_patients_per_site_fold(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"subject": [f"D{i:04d}" for i in range(300)], "age_years": rng.integers(30, 90, 300),
                          "ef_pct": rng.integers(15, 70, 300), "site": rng.choice(list("abcdef"), 300)})
    frame["dose"] = np.round(rng.uniform(10, 70, 300), 1)
    frame.to_csv(tmp_path / "d.csv", index=False)
    risk = {k: v for k, v in RISK_SPEC.items() if k != "horizon_years"}
    spec = load_spec(write(tmp_path, {**risk, "name": "dose", "task": "dose_regression", "target": "dose",
                                      "split": {"by": "site", "folds": 3}}))
    run = dry_run(spec, RunInputs(tmp_path / "x.yaml", table=tmp_path / "d.csv"))
    assert [p.name for p in run.parts] == ["fold 1 test", "fold 2 test", "fold 3 test"]
    assert sum(p.patients for p in run.parts) == 300 and all(p.events is None for p in run.parts)
    assert any("6 sites" in line and "min_test_patients" in line for line in run.info)
