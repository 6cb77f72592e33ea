"""The simulated antiplatelet trial: truth properties, phenotypes through the PGx caller, reproducibility."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features.sim.trial import read_trial, read_truth, simulate_trial


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trial")
    simulate_trial(folder, 4000, seed=5)
    return folder


def test_same_seed_same_bytes(trial: Path, tmp_path: Path) -> None:
    simulate_trial(tmp_path, 4000, seed=5)
    for name in ("trial.csv", "genotypes.vcf", "truth.csv"):
        assert (tmp_path / name).read_bytes() == (trial / name).read_bytes()


def test_truth_is_consistent_and_some_patients_are_harmed(trial: Path) -> None:
    truth = read_truth(trial)
    risks = truth[["true_risk_clopidogrel", "true_risk_ticagrelor"]].to_numpy()
    assert ((risks > 0) & (risks < 1)).all()
    np.testing.assert_allclose(truth["true_effect"], risks[:, 1] - risks[:, 0], atol=1e-9)  # written to 10 digits
    assert 0.05 < (truth["true_effect"] > 0).mean() < 0.5  # ticagrelor harms a minority (bleeding)
    assert truth["true_effect_pru"].lt(0).all()  # ticagrelor always inhibits platelets more


def test_clopidogrel_loses_benefit_in_poor_and_intermediate_metabolizers(trial: Path) -> None:
    truth = read_truth(trial)
    mean = truth.groupby("true_phenotype")["true_effect"].mean()
    assert mean["Poor Metabolizer"] < mean["Intermediate Metabolizer"] < mean["Normal Metabolizer"] < 0.005
    trial_table = read_trial(trial)
    bleeders = truth["true_effect"][trial_table["prior_bleeding"] == 1]
    assert (bleeders > 0).mean() > 0.5  # prior bleeding: ticagrelor's bleeding harm outweighs its benefit


def test_phenotypes_come_from_the_caller_and_match_the_truth(trial: Path) -> None:
    table, truth = read_trial(trial), read_truth(trial)
    called = table["cyp2c19_phenotype"].notna()
    assert called.mean() > 0.97  # ~1% of patients carry a no-call at a position that matters
    assert (table.loc[called, "cyp2c19_phenotype"] == truth.loc[called, "true_phenotype"]).all()
    assert set(table["arm"]) == {"clopidogrel", "ticagrelor"}
    assert abs(table["treated"].mean() - 0.5) < 0.03  # 1:1 randomisation
