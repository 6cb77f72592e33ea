from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.evaluate import evaluate_risk, net_benefit
from training.subgroups import largest_gaps, subgroup_metrics


@settings(max_examples=30, deadline=None)
@given(prevalence=st.floats(0.05, 0.5), t=st.floats(0.01, 0.9))
def test_net_benefit_of_a_perfect_predictor_is_the_prevalence(prevalence: float, t: float) -> None:
    y = (np.arange(1000) < int(prevalence * 1000)).astype(int)
    curve = net_benefit(y, y.astype(float), np.array([t]))
    assert curve["model"][0] == pytest.approx(y.mean())
    assert curve["treat_all"][0] == pytest.approx(y.mean() - (1 - y.mean()) * t / (1 - t))


def test_bootstrap_intervals_bracket_the_estimates() -> None:
    rng = np.random.default_rng(0)
    risk = rng.random(3000)
    y = (rng.random(3000) < risk).astype(int)
    m = evaluate_risk(y, risk, seed=1)
    assert m["auroc_ci_low"] < m["auroc"] < m["auroc_ci_high"]
    assert m["auprc_ci_low"] < m["auprc"] < m["auprc_ci_high"]
    assert abs(m["calibration_slope"] - 1) < 0.15 and abs(m["calibration_intercept"]) < 0.15
    assert m["calibration_slope_ci_low"] < m["calibration_slope"] < m["calibration_slope_ci_high"]


def test_a_paired_bootstrap_is_narrower_than_two_separate_intervals() -> None:
    from sklearn.metrics import roc_auc_score

    from training.evaluate import bootstrap_ci, paired_bootstrap_diff

    rng = np.random.default_rng(3)
    signal = rng.normal(size=400)
    y = (rng.random(400) < 1 / (1 + np.exp(-(signal - 1)))).astype(int)
    a, b = signal + rng.normal(0, 0.3, 400), signal + rng.normal(0, 0.3, 400)
    diff, low, high = paired_bootstrap_diff(y, a, b, roc_auc_score, seed=0)
    assert diff == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b)) and low < diff < high
    a_low, a_high = bootstrap_ci(y, a, roc_auc_score, seed=0)
    assert high - low < 0.5 * (a_high - a_low)  # what the two models share cancels


def test_subgroups_report_small_groups_without_metrics_and_flag_the_gap() -> None:
    import pandas as pd

    rng = np.random.default_rng(2)
    n = 4000
    group = np.where(np.arange(n) < 3900, "big", "tiny")
    risk = rng.random(n)
    y = (rng.random(n) < np.where(group == "big", risk, 0.5)).astype(int)  # uninformative in "tiny"
    rows = subgroup_metrics(y, risk, pd.DataFrame({"g": group}), ["g", "absent_column"], seed=0)
    by_level = {r["level"]: r for r in rows}
    assert by_level["big"]["n"] == 3900 and "auroc" in by_level["big"]
    assert 10 <= by_level["tiny"]["events"] <= 90 and "auroc" in by_level["tiny"]
    gaps = largest_gaps(rows)
    assert gaps["g"]["worst"] == "tiny" and gaps["g"]["gap"] > 0.1
    few = subgroup_metrics(y[:3905], risk[:3905], pd.DataFrame({"g": group[:3905]}), ["g"], seed=0)
    assert next(r for r in few if r["level"] == "tiny").keys() == {"group", "level", "n", "events"}


def test_a_baseline_with_gaps_is_compared_on_its_own_patients(tmp_path: Path) -> None:
    """PCE cannot score a patient without total cholesterol: the model is then also scored on exactly
    the patients PCE scored, so the comparison in the card is like for like."""
    import pandas as pd

    from tests.conftest import REPO, write_feature_table
    from training.data import load_training_data
    from training.fit import fit_model
    from training.risk.report import evaluate_model
    from training.spec import load_spec
    from training.split import split_cohort

    folder = write_feature_table(tmp_path / "features", n=3000, seed=11)
    table = pd.read_parquet(folder / "features.parquet")
    table.loc[table.index % 3 == 0, "total_cholesterol_mg_dl"] = float("nan")
    table.to_parquet(folder / "features.parquet", index=False)
    spec = load_spec(REPO / "tests" / "specs" / "cad_risk_binary.yaml").model_copy(update={"bootstrap_samples": 20})
    data = load_training_data(folder, spec)
    split = split_cohort(data.keys, data.cohort, spec.split, spec.seed)
    evaluation = evaluate_model(spec, data, split, fit_model(spec, data, split), tmp_path / "figures")
    test = evaluation.report["test"]
    pce, paired = test["pooled_cohort_equations"], test["model_on_pooled_cohort_equations_patients"]
    assert paired["n"] == pce["n"] < test["model"]["n"]
    assert "model_on_pooled_cohort_equations_patients.auroc" in evaluation.metrics
    assert "logistic_regression" in test and "model_on_logistic_regression_patients" not in test  # no gaps there
