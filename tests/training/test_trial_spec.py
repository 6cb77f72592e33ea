"""Issue 13: a trial is a spec. A public randomised trial shipped in a PyPI package (scikit-survival's Veterans'
Administration lung cancer trial: standard vs test chemotherapy, time to death) trains through
`pmed train SPEC --table trial.csv` under the spec's own name with its own column names, registers, and serves
compare-treatments with intervals; refusals name file, column, rule and row; rows in = used + quarantined; more
than two arms give one effect per compared arm.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from sksurv.datasets import load_veterans_lung_cancer
from typer.testing import CliRunner

from kernel.settings import Settings
from pmed.cli import app
from serving.auth import issue_key
from tests.serving.helpers import ready_client

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "docs" / "examples" / "veteran_trial.yaml"
pytestmark = pytest.mark.slow  # trains real models and serves one (~30 s)


def veteran_table(path: Path) -> Path:
    """The trial exactly as scikit-survival ships it, plus a patient id column (nothing renamed)."""
    X, y = load_veterans_lung_cancer()
    frame = X.assign(Status=y["Status"], Survival_in_days=y["Survival_in_days"])
    frame.insert(0, "patient", [f"v{i:03d}" for i in range(len(frame))])
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("PMED_HOME", str(tmp_path / ".pmed"))
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return Settings(home=tmp_path / ".pmed", _env_file=None)


def test_veteran_trains_under_its_name_and_serves_compare_treatments(tmp_path: Path, home: Settings) -> None:
    table = veteran_table(tmp_path / "veteran.csv")
    trained = CliRunner().invoke(app, ["train", str(EXAMPLE), "--table", str(table)])
    assert "137 row(s) in, 137 used, 0 quarantined" in trained.output, trained.output
    assert "registered veteran_chemo version 1" in trained.output, trained.output
    assert "alias champion -> veteran_chemo version 1" in trained.output, trained.output

    key = issue_key(home.keys_file, "test-clinician", "clinician")[1]
    row = pd.read_csv(table).iloc[0]
    features = {"Age_in_years": float(row["Age_in_years"]), "Celltype": row["Celltype"],
                "Karnofsky_score": float(row["Karnofsky_score"]),
                "Months_from_Diagnosis": float(row["Months_from_Diagnosis"]), "Prior_therapy": row["Prior_therapy"]}
    with ready_client(home.model_copy(update={"served_models": ["veteran_chemo"]})) as client:
        answer = client.post("/v1/models/veteran_chemo/compare-treatments",
                             json={"patients": [{"patient_id": "p1", "features": features}]},
                             headers={"Authorization": f"Bearer {key}"})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["horizon_days"] == 180 and "randomised trial" in body["evidence"]
        assert body["outcome_measure"] == "risk of death by day 180"
        arms = body["comparisons"][0]["treatments"]
        assert [a["treatment"] for a in arms] == ["standard", "test"]  # the trial's own arm labels
        low, high = arms[1]["interval_95"]
        assert 0 <= arms[0]["predicted_outcome"] <= 1 and low < arms[1]["difference"] < high
        comparison = body["comparisons"][0]
        assert comparison["drivers_scale"].startswith("log hazard ratio")
        assert abs(sum(d["contribution"] for d in comparison["drivers"]) - comparison["drivers_total"]) < 1e-5
        wrong = client.post("/v1/models/veteran_chemo/compare-treatments",
                            json={"patients": [{"patient_id": "p1", "features": {**features, "Celltype": "oat"}}]},
                            headers={"Authorization": f"Bearer {key}"})
        assert wrong.status_code == 422 and "Celltype" in wrong.text and "oat" not in wrong.text

        login = client.post("/clinician/veteran_chemo/login", data={"api_key": key})
        assert login.status_code == 200, login.text  # redirected to the form
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
        assert token is not None and "f_arm_1_test" not in login.text  # every arm is scored, none is an input
        page = client.post("/clinician/veteran_chemo", data={
            "csrf_token": token.group(1), "patient_ref": "MRN-VET-1",
            **{f"f_{k}": v if isinstance(v, str) else f"{v:g}" for k, v in features.items()}})
        assert page.status_code == 200, page.text
        assert "Predicted 180-day risk of death" in page.text and "Evidence: randomised trial" in page.text
        assert f"{100 * arms[1]['predicted_outcome']:.1f}%" in page.text and "log hazard ratio" in page.text


def _spec(tmp_path: Path, **changes: object) -> Path:
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw.update(changes)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_bad_rows_are_quarantined_and_counted(tmp_path: Path, home: Settings) -> None:
    table = veteran_table(tmp_path / "veteran.csv")
    frame = pd.read_csv(table)
    frame.loc[3, "Treatment"] = "placebo"  # an arm the spec does not name
    frame.loc[5, "Survival_in_days"] = -4  # follow-up must be > 0
    frame.to_csv(table, index=False)
    refused = CliRunner().invoke(app, ["train", str(EXAMPLE), "--table", str(table)])
    assert refused.exit_code != 0 and "Traceback" not in refused.output
    assert "column Treatment: the arm must be one of standard, test" in refused.output
    assert "first at row 5" in refused.output
    spec = _spec(tmp_path, on_invalid="quarantine")
    trained = CliRunner().invoke(app, ["train", str(spec), "--table", str(table)])
    assert "137 row(s) in, 135 used, 2 quarantined" in trained.output, trained.output
    quarantine = pd.read_csv(home.quarantine_dir / "table-veteran_chemo.csv")
    assert sorted(quarantine["field"]) == ["Survival_in_days", "Treatment"]
    assert "placebo" not in quarantine.to_csv()


def test_missing_columns_and_thin_arms_are_one_line_refusals(tmp_path: Path, home: Settings) -> None:
    table = veteran_table(tmp_path / "veteran.csv")
    pd.read_csv(table).drop(columns=["Karnofsky_score"]).to_csv(tmp_path / "less.csv", index=False)
    missing = CliRunner().invoke(app, ["train", str(EXAMPLE), "--table", str(tmp_path / "less.csv")])
    assert "column(s) Karnofsky_score named by the spec are missing" in missing.output
    frame = pd.read_csv(table)
    frame = pd.concat([frame[frame["Treatment"] == "standard"], frame[frame["Treatment"] == "test"].head(10)])
    frame.to_csv(tmp_path / "thin.csv", index=False)
    thin = CliRunner().invoke(app, ["train", str(EXAMPLE), "--table", str(tmp_path / "thin.csv")])
    assert "arm(s) test have fewer than 20 usable patients" in thin.output and "Traceback" not in thin.output


def test_observational_data_is_refused_plainly(tmp_path: Path) -> None:
    checked = CliRunner().invoke(app, ["spec", "check", str(_spec(tmp_path, randomised=False))])
    assert checked.exit_code != 0 and "observational" in checked.output


def test_three_arms_give_one_effect_per_compared_arm(tmp_path: Path, home: Settings) -> None:
    """A simulated three-arm trial with a continuous outcome: arm 'b' lowers it by 10, arm 'c' by 10 x marker."""
    rng = np.random.default_rng(5)
    n = 900
    marker = rng.integers(0, 2, n)
    age = rng.uniform(40, 80, n)
    arm = rng.choice(["a", "b", "c"], n)
    y = 100 + 0.5 * (age - 60) - 10 * (arm == "b") - 20 * marker * (arm == "c") + rng.normal(0, 5, n)
    pd.DataFrame({"pid": [f"q{i}" for i in range(n)], "group": arm, "age": age, "marker": marker,
                  "sbp": y}).to_csv(tmp_path / "three.csv", index=False)
    spec = {"name": "three_arms", "description": "Blood pressure under three arms", "intended_use": "a test",
            "task": "treatment_effect", "target": "sbp", "id_column": "pid", "arm_column": "group",
            "arms": {"reference": "a", "compared": ["b", "c"]}, "randomised": True, "outcome_kind": "continuous",
            "features": ["age", "marker"],
            "declared_features": [{"name": "age", "display_name": "Age", "unit": "years", "kind": "continuous",
                                   "min": 18, "max": 100},
                                  {"name": "marker", "display_name": "Marker", "unit": "1 = present",
                                   "kind": "binary"}],
            "learner": {"rounds": 200, "min_child_weight": 5, "n_bootstrap": 5}}
    path = tmp_path / "three.yaml"
    path.write_text(yaml.safe_dump(spec))
    trained = CliRunner().invoke(app, ["train", str(path), "--table", str(tmp_path / "three.csv")])
    assert "registered three_arms version 1" in trained.output, trained.output
    from training.tracking import configure_mlflow

    client = configure_mlflow(home)
    metrics = client.get_run(str(client.get_model_version("three_arms", "1").run_id)).data.metrics
    assert metrics["arm.a.observed"] > metrics["arm.b.observed"] > metrics["arm.c.observed"] - 5
    assert metrics["b.mean_estimated_effect"] == pytest.approx(-10, abs=2.5)
    assert metrics["c.mean_estimated_effect"] == pytest.approx(-10, abs=3.5)  # -20 for half the patients
    assert metrics["c.blp_slope"] > 0.5  # the marker-driven effect is ranked
    shutil.rmtree(tmp_path / "mlruns", ignore_errors=True)


def test_dry_run_counts_each_arm_and_fits_nothing(tmp_path: Path, home: Settings) -> None:
    table = veteran_table(tmp_path / "veteran.csv")
    dry = CliRunner().invoke(app, ["train", str(EXAMPLE), "--table", str(table), "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "137 rows read, 137 patients used; nothing fitted" in dry.output
    counts = [int(line.split()[-4]) for line in dry.output.splitlines()
              if line.startswith(("[pmed] fit:", "[pmed] held out:"))]
    assert sum(counts) == 137 and len(counts) == 4


def test_a_binary_outcome_written_as_true_false_trains(tmp_path: Path, home: Settings) -> None:
    """A binary trial outcome as a spreadsheet writes it (yes/no), arms as numeric codes 0/1."""
    rng = np.random.default_rng(8)
    n = 600
    age = rng.uniform(40, 80, n)
    arm = rng.integers(0, 2, n)
    risk = 1 / (1 + np.exp(-(-1.0 + 0.04 * (age - 60) - 0.8 * arm)))
    died = np.where(rng.random(n) < risk, "yes", "no")
    pd.DataFrame({"pid": [f"b{i}" for i in range(n)], "trt": arm, "age": age, "died": died}).to_csv(
        tmp_path / "binary.csv", index=False)
    spec = {"name": "binary_trial", "description": "Death under two arms", "intended_use": "a test",
            "task": "treatment_effect", "target": "died", "id_column": "pid", "arm_column": "trt",
            "arms": {"reference": "0", "compared": "1"}, "randomised": True, "features": ["age"],
            "declared_features": [{"name": "age", "display_name": "Age", "unit": "years", "kind": "continuous",
                                   "min": 18, "max": 100}],
            "learner": {"rounds": 100, "min_child_weight": 5, "n_bootstrap": 4}}
    path = tmp_path / "binary.yaml"
    path.write_text(yaml.safe_dump(spec))
    trained = CliRunner().invoke(app, ["train", str(path), "--table", str(tmp_path / "binary.csv")])
    assert "600 row(s) in, 600 used, 0 quarantined" in trained.output, trained.output
    assert "registered binary_trial version 1" in trained.output, trained.output
    from training.tracking import configure_mlflow

    client = configure_mlflow(home)
    metrics = client.get_run(str(client.get_model_version("binary_trial", "1").run_id)).data.metrics
    assert 0 < metrics["arm.1.observed"] < metrics["arm.0.observed"] < 1  # the compared arm lowers the risk
    assert metrics["mean_estimated_effect"] < 0
