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
