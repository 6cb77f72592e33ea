"""The S-learner ensemble: effect sign for CYP2C19 poor metabolizers, interval coverage, drivers, the CPIC rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from features.sim.trial import FEATURES, read_trial, read_truth, simulate_trial
from kernel.formulas.cpic import cpic_rule
from training.treatment.effect import LearnerParams, TreatmentEffectModel, required_coverage
from training.treatment.evaluate import effect_metrics, policy_table
from training.treatment.pipeline import matrix


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[TreatmentEffectModel, Path]:
    root = tmp_path_factory.mktemp("effect")
    for name, n, seed in (("train", 6000, 31), ("cal", 3000, 32), ("test", 3000, 33)):
        simulate_trial(root / name, n, seed)
    train = read_trial(root / "train")
    model = TreatmentEffectModel(list(FEATURES), params=LearnerParams(n_bootstrap=10, rounds=200))
    model.fit(matrix(train), train["treated"].to_numpy(), train["nace_1y"].to_numpy())
    model.calibrate(matrix(read_trial(root / "cal")), read_truth(root / "cal")["true_effect"].to_numpy())
    return model, root / "test"


def test_ticagrelor_helps_poor_metabolizers_on_average(fitted: tuple[TreatmentEffectModel, Path]) -> None:
    model, test = fitted
    table, truth = read_trial(test), read_truth(test)
    effect = model.predict(matrix(table)).effect
    poor = (table["cyp2c19_phenotype"] == "Poor Metabolizer").to_numpy()
    normal_no_bleed = ((table["cyp2c19_phenotype"] == "Normal Metabolizer") & (table["prior_bleeding"] == 0)).to_numpy()
    assert effect[poor].mean() < 0 and truth["true_effect"][poor].mean() < 0
    assert effect[poor].mean() < effect[normal_no_bleed].mean()


def test_calibration_asks_for_the_margin_finite_data_needs(fitted: tuple[TreatmentEffectModel, Path]) -> None:
    model, test = fitted
    cal = test.parent / "cal"
    pred = model.predict(matrix(read_trial(cal)))
    tau = read_truth(cal)["true_effect"].to_numpy()
    assert np.mean((pred.low <= tau) & (tau <= pred.high)) >= required_coverage(len(tau), 0.95, 0.95) > 0.95
    # one-sided 95% Clopper-Pearson: 9,537 of 10,000 covered has a lower bound just above 0.95
    assert required_coverage(10_000, 0.95, 0.95) == pytest.approx(0.9537)
    assert (required_coverage(100_000, 0.95, 0.95) < required_coverage(10_000, 0.95, 0.95)
            < required_coverage(500, 0.95, 0.95))
    assert required_coverage(10_000, 0.95, 0.5) == pytest.approx(0.95, abs=2e-4)  # no confidence asked: no margin


def test_calibrated_intervals_cover_fresh_patients(fitted: tuple[TreatmentEffectModel, Path]) -> None:
    model, test = fitted
    pred = model.predict(matrix(read_trial(test)))
    metrics = effect_metrics(pred.effect, read_truth(test)["true_effect"].to_numpy(), pred.low, pred.high)
    assert metrics["coverage_95"] >= 0.90  # calibrated to 0.95 on another trial; 3,000 patients: a tolerance
    assert (pred.low <= pred.effect).all() and (pred.effect <= pred.high).all()
    assert metrics["pehe"] < read_truth(test)["true_effect"].std()  # better than one effect for everybody


def test_drivers_add_up_to_the_log_odds_ratio(fitted: tuple[TreatmentEffectModel, Path]) -> None:
    model, test = fitted
    X = matrix(read_trial(test))[:50]
    pred = model.predict(X)
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    np.testing.assert_allclose(model.effect_contributions(X).sum(axis=1),
                               logit(pred.outcome_treated) - logit(pred.outcome_reference), atol=1e-4)


def test_saved_model_predicts_the_same(fitted: tuple[TreatmentEffectModel, Path], tmp_path: Path) -> None:
    model, test = fitted
    files = model.save(tmp_path)
    assert {f.suffix for f in files} == {".ubj", ".json"}  # no pickle
    X = matrix(read_trial(test))[:100]
    a, b = model.predict(X), TreatmentEffectModel.load(tmp_path).predict(X)
    np.testing.assert_allclose(a.effect, b.effect)
    np.testing.assert_allclose(a.high, b.high)


def test_cpic_rule_and_policy_regret() -> None:
    phenotypes = np.array(["Poor Metabolizer", "Intermediate Metabolizer", "Normal Metabolizer",
                           "Rapid Metabolizer", "Ultrarapid Metabolizer", None], dtype=object)
    assert cpic_rule(phenotypes).tolist() == [1, 1, 0, 0, 0, 0]
    r0, r1 = np.array([0.2, 0.1, 0.1]), np.array([0.1, 0.2, 0.1])
    rows = {r["policy"]: r for r in policy_table({"all ticagrelor": np.ones(3, int)}, r0, r1)}
    assert rows["oracle"]["regret"] == 0
    assert rows["all ticagrelor"]["regret"] == pytest.approx((0.1 + 0.2 + 0.1) / 3 - (0.1 + 0.1 + 0.1) / 3)
