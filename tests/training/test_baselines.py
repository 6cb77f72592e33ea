import numpy as np
import pytest

from kernel.formulas.pce import pooled_cohort_risk


@pytest.mark.parametrize(("male", "black", "expected"), [(0, 0, 0.021), (0, 1, 0.030), (1, 0, 0.053), (1, 1, 0.061)])
def test_pooled_cohort_equations_match_the_guideline_worked_example(male: int, black: int, expected: float) -> None:
    """Goff et al. 2013, worked example: age 55, TC 213, HDL 50, untreated SBP 120, non-smoker, no diabetes.

    The guideline's table rounds its intermediate sums (white men: 60.69 where exact arithmetic gives
    60.698, hence 5.3% vs 5.38%), so the comparison allows 0.1 percentage point.
    """
    one = np.ones(1)
    risk = pooled_cohort_risk(55 * one, male * one, black * one, 213 * one, 50 * one, 120 * one,
                              0 * one, 0 * one, 0 * one)
    assert float(risk[0]) == pytest.approx(expected, abs=1e-3)


def test_risk_rises_with_each_risk_factor() -> None:
    base = {"age": np.array([60.0]), "male": np.array([1]), "black": np.array([0]), "total_chol": np.array([200.0]),
                "hdl": np.array([50.0]), "sbp": np.array([130.0]), "bp_treated": np.array([0]), "smoker": np.array([0]),
                "diabetes": np.array([0])}
    reference = pooled_cohort_risk(**base)[0]
    for change in ({"smoker": np.array([1])}, {"diabetes": np.array([1])}, {"sbp": np.array([160.0])},
                   {"total_chol": np.array([260.0])}, {"age": np.array([70.0])}):
        assert pooled_cohort_risk(**{**base, **change})[0] > reference, change
