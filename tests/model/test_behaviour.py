"""Behavioural tests on a trained model: clinical-sense invariants the spec promises."""

from __future__ import annotations

import numpy as np
import pytest

from features.registry import REGISTRY
from tests.conftest import REPO
from training.data import load_training_data
from training.fit import FittedModel, fit_model
from training.spec import ModelSpec, load_spec
from training.split import split_patients


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[ModelSpec, FittedModel, np.ndarray]:
    from tests.conftest import write_feature_table

    folder = write_feature_table(tmp_path_factory.mktemp("behaviour"), n=4000, seed=21)
    spec = load_spec(REPO / "tests" / "specs" / "cad_risk_binary.yaml")
    data = load_training_data(folder, spec)
    split = split_patients(data.keys, spec.split, spec.seed)
    return spec, fit_model(spec, data, split), data.X[split.test][:300]


@pytest.mark.parametrize("feature", ["age_years", "ldl_mg_dl", "sbp_mm_hg", "current_smoker", "cad_prs_sum"])
def test_risk_never_falls_as_a_monotone_feature_rises(trained: tuple, feature: str) -> None:
    spec, fitted, patients = trained
    assert spec.monotone_constraints[feature] == 1
    j = spec.features.index(feature)
    grid = np.linspace(REGISTRY[feature].min, REGISTRY[feature].max, 25)
    risks = []
    for value in grid:
        varied = patients.copy()
        varied[:, j] = value
        risks.append(fitted.risk(varied))
    steps = np.diff(np.vstack(risks), axis=0)  # (grid steps, patients)
    assert (steps >= -1e-9).all(), f"risk fell as {feature} rose for some patient"
    assert (np.vstack(risks)[-1] > np.vstack(risks)[0]).mean() > 0.5  # and it actually rises for most


def test_missing_value_gives_a_prediction_not_an_error(trained: tuple) -> None:
    spec, fitted, patients = trained
    holes = patients.copy()
    holes[:, spec.features.index("ldl_mg_dl")] = np.nan
    risk = fitted.risk(holes)
    assert np.isfinite(risk).all() and ((risk >= 0) & (risk <= 1)).all()
