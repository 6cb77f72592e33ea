import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from training.spec import SplitFractions
from training.split import split_patients


@settings(max_examples=50, deadline=None)
@given(keys=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=300, unique=True),
       seed=st.integers(0, 2**31))
def test_every_patient_lands_in_exactly_one_part(keys: list[str], seed: int) -> None:
    split = split_patients(pd.Series(keys), SplitFractions(), seed)
    parts = [set(split.train), set(split.validation), set(split.test)]
    assert sum(len(p) for p in parts) == len(keys)
    assert set().union(*parts) == set(range(len(keys)))


def test_assignment_does_not_depend_on_row_order() -> None:
    keys = pd.Series([f"p{i}" for i in range(2000)])
    first = split_patients(keys, SplitFractions(), 3)
    shuffled = keys.sample(frac=1, random_state=1).reset_index(drop=True)
    second = split_patients(shuffled, SplitFractions(), 3)
    assert set(keys[first.test]) == set(shuffled[second.test])
    assert 0.15 < len(first.test) / len(keys) < 0.25


def _cohort(n: int = 3000) -> tuple[pd.Series, pd.DataFrame]:
    import numpy as np

    rng = np.random.default_rng(0)
    cohort = pd.DataFrame({"site": rng.choice(["a", "b", "c"], n),
                           "index_date": pd.Timestamp("2012-01-01") + pd.to_timedelta(rng.integers(0, 1800, n), "D")})
    return pd.Series([f"k{i}" for i in range(n)]), cohort


def test_split_by_site_holds_out_whole_sites() -> None:
    from training.split import split_cohort

    keys, cohort = _cohort()
    split = split_cohort(keys, cohort, SplitFractions(by="site", test_sites=["c"]), seed=1)
    assert set(cohort["site"].iloc[split.test]) == {"c"}
    assert "c" not in set(cohort["site"].iloc[split.train]) | set(cohort["site"].iloc[split.validation])
    assert len(split.train) + len(split.validation) + len(split.test) == len(keys)
    assert 0.7 < len(split.train) / (len(split.train) + len(split.validation)) < 0.8  # 0.6 : 0.2


def test_split_by_time_tests_on_the_later_period() -> None:
    import datetime

    from training.split import split_cohort

    keys, cohort = _cohort()
    cut = datetime.date(2015, 6, 1)
    split = split_cohort(keys, cohort, SplitFractions(by="time", test_from=cut), seed=1)
    assert (cohort["index_date"].iloc[split.test] >= pd.Timestamp(cut)).all()
    assert (cohort["index_date"].iloc[split.train] < pd.Timestamp(cut)).all()


def test_split_by_site_needs_its_sites() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="test_sites"):
        SplitFractions(by="site")
