"""Subgroup reports that tell the truth: any column (a feature included), an unknown one refused before fitting,
many-valued columns binned, per-group metrics (through fairlearn's MetricFrame) equal to a hand computation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from sksurv.datasets import load_veterans_lung_cancer
from sksurv.linear_model import CoxPHSurvivalAnalysis
from sksurv.metrics import concordance_index_censored
from sksurv.nonparametric import kaplan_meier_estimator

from training.data import DataError, load_table
from training.spec import ModelSpec
from training.subgroups import (
    MIN_EVENTS,
    MISSING_LEVEL,
    group_labels,
    risk_subgroups,
    subgroup_columns,
    survival_subgroups,
)


def _spec(**fields: object) -> ModelSpec:
    base: dict[str, object] = {"name": "toy", "description": "toy", "intended_use": "tests", "target": "y",
                               "horizon_years": 1, "id_column": "id", "features": ["age_years", "sex_male"]}
    return ModelSpec.model_validate({**base, **fields})


def _table(path: Path, n: int = 400, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"id": range(n), "age_years": rng.integers(40, 80, n), "sex_male": rng.integers(0, 2, n),
                          "ward": rng.choice(["a", "b"], n), "y": rng.integers(0, 2, n)})
    frame.to_csv(path, index=False)
    return path


def test_an_unknown_subgroup_is_refused_when_the_table_is_read_naming_it_and_the_columns(tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        load_table(_table(tmp_path / "t.csv"), _spec(subgroups=["sexx", "ward"]))
    message = str(caught.value)
    assert "sexx" in message and "not a column" in message and "ward" in message and "sex_male" in message
    assert "t.csv" in message


def test_a_feature_and_any_table_column_can_be_a_subgroup_and_the_default_takes_what_is_there(tmp_path: Path) -> None:
    data = load_table(_table(tmp_path / "t.csv"), _spec(subgroups=["sex_male", "ward", "age_years"]))
    assert {"sex_male", "age_years", "ward"} <= set(data.cohort.columns)  # features kept in the cohort
    default = _spec()  # sex, ancestry, age_band by default: this table has none of them, and that is no error
    assert subgroup_columns(default, data.cohort.columns) == []
    assert subgroup_columns(_spec(subgroups=["sex_male"]), data.cohort.columns) == ["sex_male"]
    rng = np.random.default_rng(1)
    risk = rng.random(len(data.y))
    y = (rng.random(len(data.y)) < risk).astype(int)
    report = risk_subgroups(y, risk, data.cohort, ["sex_male", "ward", "age_years"], (0.05, 0.3), seed=0, n_boot=20)
    levels = {(r["group"], r["level"]) for r in report.rows}
    assert {("sex_male", "0"), ("sex_male", "1"), ("ward", "a"), ("ward", "b")} <= levels
    ages = sorted(lvl for g, lvl in levels if g == "age_years")  # a many-valued column: its quartiles
    assert [a.split()[0] for a in ages] == ["Q1", "Q2", "Q3", "Q4"] and ages[0].startswith("Q1 40 to")
    assert "subgroup.sex_male.0.auroc" in report.metrics and "worst_subgroup_auroc" in report.metrics


def test_group_labels_bin_many_valued_columns_and_name_missing_values() -> None:
    values = pd.Series([float(v) for v in range(100)] + [np.nan])
    labels = group_labels(values)
    assert labels.iloc[-1] == MISSING_LEVEL
    assert sorted(labels.unique()) == sorted({*labels.iloc[:-1].unique(), MISSING_LEVEL})
    assert [lvl.split()[0] for lvl in sorted(set(labels.iloc[:-1]))] == ["Q1", "Q2", "Q3", "Q4"]
    assert list(group_labels(pd.Series([1.0, 0.0, 2.0]))) == ["1", "0", "2"]  # few values: level by level
    assert list(group_labels(pd.Series(["F", None, "M"]))) == ["F", MISSING_LEVEL, "M"]


def test_risk_metrics_per_group_equal_a_hand_computation() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    group = rng.choice(["x", "y", "z"], n, p=[0.6, 0.395, 0.005])
    risk = rng.random(n) * np.where(group == "y", 0.5, 1.0)
    y = (rng.random(n) < risk).astype(int)
    report = risk_subgroups(y, risk, pd.DataFrame({"g": group}), ["g"], (0.05, 0.3), seed=0, n_boot=30)
    rows = {r["level"]: r for r in report.rows}
    for level in ("x", "y"):
        member = group == level
        row = rows[level]
        assert row["n"] == member.sum() and row["events"] == y[member].sum()
        assert row["auroc"] == pytest.approx(roc_auc_score(y[member], risk[member]))
        assert row["auroc_ci_low"] <= row["auroc"] <= row["auroc_ci_high"]
        assert row["observed_expected"] == pytest.approx(y[member].sum() / risk[member].sum())
        assert 0.85 < row["observed_expected"] < 1.15  # calibrated by construction
        positive = risk[member] >= 0.3
        assert row["tpr_at_0.3"] == pytest.approx(positive[y[member] == 1].mean())
        assert row["fpr_at_0.3"] == pytest.approx(positive[y[member] == 0].mean())
        assert report.metrics[f"subgroup.g.{level}.tpr_at_0.3"] == pytest.approx(row["tpr_at_0.3"])
    small = rows["z"]
    assert min(small["events"], small["n"] - small["events"]) < MIN_EVENTS and "auroc" not in small
    assert report.metrics["worst_subgroup_auroc"] == pytest.approx(min(rows["x"]["auroc"], rows["y"]["auroc"]))


def test_survival_metrics_per_group_on_the_veterans_lung_cancer_trial() -> None:
    """Public data (scikit-survival's veterans trial): per cell type, Harrell's C of a Cox score and the
    Kaplan-Meier risk at 180 days over the mean predicted risk, equal to the libraries' own figures."""
    X, y = load_veterans_lung_cancer()
    covariates = X[["Age_in_years", "Karnofsky_score"]].to_numpy(dtype=float)
    cox = CoxPHSurvivalAnalysis().fit(covariates, y)
    score = cox.predict(covariates)
    horizon = 180.0
    risk = np.array([1 - fn(horizon) for fn in cox.predict_survival_function(covariates)])
    report = survival_subgroups(y["Status"], y["Survival_in_days"], score, risk, horizon,
                                X[["Celltype"]].astype(str).reset_index(drop=True), ["Celltype"], seed=0, n_boot=30)
    rows = {r["level"]: r for r in report.rows}
    assert set(rows) == {"adeno", "large", "smallcell", "squamous"}
    for level, row in rows.items():
        member = (X["Celltype"].astype(str) == level).to_numpy()
        event, time = y["Status"][member], y["Survival_in_days"][member]
        assert row["n"] == member.sum() and row["events"] == event.sum()
        assert row["events_by_horizon"] == int((event & (time <= horizon)).sum())
        assert row["c_index"] == pytest.approx(concordance_index_censored(event, time, score[member])[0])
        times, surv = kaplan_meier_estimator(event, time)
        observed = 1 - surv[times <= horizon][-1]
        assert row["observed_expected_at_horizon"] == pytest.approx(observed / risk[member].mean())
        assert row["c_index_ci_low"] <= row["c_index"] <= row["c_index_ci_high"]
        assert report.metrics[f"subgroup.Celltype.{level}.c_index"] == pytest.approx(row["c_index"])
    assert report.metrics["worst_subgroup_c_index"] == pytest.approx(min(r["c_index"] for r in rows.values()))
    assert report.gaps["Celltype"]["gap"] >= 0


def test_ids_and_free_text_columns_are_refused_as_subgroups(tmp_path: Path) -> None:
    """Their levels would become MLflow metric names: patient ids (or names) must never get there."""
    with pytest.raises(DataError, match="patient id column"):
        load_table(_table(tmp_path / "t.csv"), _spec(subgroups=["id"]))
    with pytest.raises(DataError, match="distinct text values"):
        group_labels(pd.Series([f"name{i}" for i in range(100)], name="free_text"))
