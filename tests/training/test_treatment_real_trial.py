"""A trial without truth (as a real one): fitted on part, judged on held-out patients by what randomisation
supports, its interval labelled variance-only, registered through the same gates path. The simulator's
truth, kept aside, checks that the truth-free estimates land where the true values are."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.sim.trial import read_truth, simulate_trial
from features.trial import read_trial
from kernel.formulas.cpic import cpic_rule
from kernel.settings import Settings
from serving.treatment import interval_method
from training.treatment.effect import LearnerParams
from training.treatment.evaluate import effect_calibration, estimated_policy_values
from training.treatment.pipeline import (
    CPIC_RULE,
    MODEL_RULE,
    fit_and_evaluate,
    gates_for,
    matrix,
    register,
    split_holdout,
)

pytestmark = pytest.mark.slow  # fits 9 boosters on 6,000 patients and registers once (~15 s)
PARAMS = LearnerParams(n_bootstrap=8, rounds=200)


@pytest.fixture(scope="module")
def trials(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("real")
    simulate_trial(root / "simulated", 8000, seed=41)
    real = root / "mytrial"
    real.mkdir()
    for name in ("trial.csv", "genotypes.vcf"):  # no truth.csv: the pipeline must not need it
        shutil.copy(root / "simulated" / name, real / name)
    return {"simulated": root / "simulated", "real": real}


def test_real_trial_is_judged_on_held_out_patients_without_truth(trials: dict[str, Path], tmp_path: Path) -> None:
    outcome = fit_and_evaluate(trials["real"], params=PARAMS, holdout=0.25, quarantine_dir=tmp_path / "q")
    assert not outcome.simulated and "pehe" not in outcome.metrics and "coverage_95" not in outcome.metrics
    assert outcome.metrics["n_evaluated"] == 2000 and len(outcome.fitted) == 6000
    assert (outcome.model.interval_k, outcome.model.interval_c) == (1.0, 0.0)
    assert "uncalibrated" in interval_method(outcome.model)
    # the held-out estimates against the simulator's truth for exactly those patients
    _, held = split_holdout(read_trial(trials["real"]), 0.25, PARAMS.seed)  # the same held-out patients
    truth = read_truth(trials["simulated"]).set_index("patient_id").loc[held["patient_id"]]
    r0, r1 = truth["true_risk_clopidogrel"].to_numpy(), truth["true_risk_ticagrelor"].to_numpy()
    choices = {CPIC_RULE: cpic_rule(held["cyp2c19_phenotype"]),
               MODEL_RULE: (outcome.model.predict(matrix(held)).effect < 0).astype(int)}
    rules = {r["policy"]: r for r in outcome.policies}
    for name, choice in choices.items():  # each estimate's CI holds the true risk of those patients
        assert rules[name]["ci_low"] <= np.where(choice == 1, r1, r0).mean() <= rules[name]["ci_high"], name
    assert outcome.metrics["blp_slope"] > 0  # the effect ranking carries information on unseen patients
    assert [g.name for g in gates_for(outcome)] == ["effect_ranking", "policy_vs_simple_rules"]
    registered = register(outcome, trials["real"], Settings(home=tmp_path / ".pmed", _env_file=None))
    assert registered.version == "1"
    assert registered.promoted == all(g.passed for g in gates_for(outcome))


def test_holdout_split_keeps_both_arms_and_is_disjoint(trials: dict[str, Path]) -> None:
    trial = pd.DataFrame({"patient_id": [f"p{i}" for i in range(1000)], "treated": np.arange(1000) % 2})
    fit, held = split_holdout(trial, 0.3, seed=1)
    assert len(held) == 300 and held["treated"].mean() == 0.5
    assert not set(fit["patient_id"]) & set(held["patient_id"]) and len(fit) + len(held) == 1000
    assert split_holdout(trial, 0.3, seed=1)[1]["patient_id"].tolist() == held["patient_id"].tolist()
    with pytest.raises(ValueError, match="holdout share"):
        split_holdout(trial, 0.9, seed=1)


def test_calibration_needs_a_simulated_trial(trials: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="only a simulated trial has"):
        fit_and_evaluate(trials["simulated"], trials["real"], trials["simulated"],
                         params=LearnerParams(n_bootstrap=2, rounds=20))


def test_truth_free_estimates_match_the_truth_on_a_large_simulated_trial(trials: dict[str, Path]) -> None:
    """Rule values estimated from the randomised arms land within their CI of the true values, and the
    effect-ranking slope is about 1 for the true effects themselves."""
    truth = read_truth(trials["simulated"])
    table = pd.read_csv(trials["simulated"] / "trial.csv")
    treated, y = (table["arm"] == "ticagrelor").to_numpy().astype(int), table["nace_1y"].to_numpy(dtype=float)
    oracle = (truth["true_effect"] < 0).to_numpy().astype(int)
    rules = {"oracle": oracle, "all clopidogrel": np.zeros(len(y), int), "all ticagrelor": np.ones(len(y), int)}
    estimated = estimated_policy_values(rules, treated, y, reference="all clopidogrel", n_boot=200)
    r0, r1 = truth["true_risk_clopidogrel"].to_numpy(), truth["true_risk_ticagrelor"].to_numpy()
    for row in estimated:
        true = np.where(rules[row["policy"]] == 1, r1, r0).mean()
        assert row["ci_low"] <= true <= row["ci_high"], row
    summary, groups = effect_calibration(truth["true_effect"].to_numpy(), treated, y)
    assert summary["blp_slope_ci_low"] < 1 < summary["blp_slope_ci_high"] and summary["blp_slope_ci_low"] > 0
    assert groups[0]["mean_estimated_effect"] < groups[-1]["mean_estimated_effect"]
    assert groups[-1]["trial_difference"] > groups[0]["trial_difference"]


def test_cli_trains_a_real_trial_and_quarantines_its_bad_rows(trials: dict[str, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pmed.cli import app

    folder = tmp_path / "mytrial"
    shutil.copytree(trials["real"], folder)
    table = pd.read_csv(folder / "trial.csv", dtype=str, keep_default_na=False)
    table.loc[7, "arm"] = "placebo"
    table.to_csv(folder / "trial.csv", index=False)
    result = CliRunner().invoke(app, ["train-treatment", "--trial", str(folder)],
                                env={"PMED_HOME": str(tmp_path / ".pmed"), "PMED_PROGRESS": "0"})
    assert result.exit_code == 0, result.output
    quarantine = tmp_path / ".pmed" / "quarantine" / "trial-mytrial.csv"
    assert f"1 in {quarantine}" in result.output
    assert pd.read_csv(quarantine).iloc[0].to_dict() == {"source_file": str(folder / "trial.csv"), "row": 9,
                                                         "field": "arm",
                                                         "rule": "arm must be one of clopidogrel, ticagrelor"}
    assert "evaluated on 2400 patients" in result.output and "gate effect_ranking" in result.output
    assert "PEHE" not in result.output and "bootstrap's alone" in result.output
    listed = CliRunner().invoke(app, ["models"], env={"PMED_HOME": str(tmp_path / ".pmed")})
    assert "est. 1-year risk: model rule 0.1" in listed.output and "AUROC" not in listed.output
    missing = CliRunner().invoke(app, ["train-treatment", "--trial", str(tmp_path / "nowhere")],
                                 env={"PMED_HOME": str(tmp_path / ".pmed")})
    assert missing.exit_code != 0 and "holds no trial.csv" in missing.output
