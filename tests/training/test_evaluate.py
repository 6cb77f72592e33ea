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
    assert [r for r in few if r["level"] == "tiny"][0].keys() == {"group", "level", "n", "events"}
