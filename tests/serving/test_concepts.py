"""Clinical explanations: both scales add up, concepts fold features back exactly, flags and abstention.

A small booster is fitted here on a seeded cohort (no MLflow), and its artifact is written by the same
training code that writes a registered bundle's, so these tests see what serving sees.
"""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.artifact import ArtifactFeature
from kernel.artifacts import parse_artifact
from kernel.bundle import Bundle
from kernel.calibration import IsotonicCalibrator, SigmoidCalibrator, fit_calibrator
from serving.explain import explain
from serving.feature_text import value_text
from serving.flags import abstain_reason, assess
from serving.registry import ServedModel, served_model_from_bundle
from serving.risk import points as risk_points
from serving.risk.answer import patient_prediction, risk_category
from serving.risk.concepts import group_concepts
from tests.serving.helpers import toy_artifact, toy_feature
from training.data import describe_features
from training.importance import mean_abs_shap
from training.spec import DeclaredFeature, ModelSpec

NAMES = ["age_years", "sex_male", "ldl_mg_dl", "sbp_mm_hg", "antihypertensive_rx", "current_smoker",
         "pack_years", "bmi_kg_m2"]


def _cohort(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.uniform(35, 80, n), rng.integers(0, 2, n), rng.uniform(70, 220, n),
                         rng.uniform(100, 180, n), rng.integers(0, 2, n), rng.integers(0, 2, n),
                         rng.uniform(0, 40, n), rng.uniform(18, 40, n)]).astype(float)
    X[rng.random(n) < 0.1, 2] = np.nan  # some LDL missing, as in real extracts
    logit = -3 + 0.06 * (X[:, 0] - 55) + 0.012 * np.nan_to_num(X[:, 2] - 130) + 0.03 * (X[:, 3] - 130) \
        + 0.8 * X[:, 5] + 0.02 * X[:, 6] + 0.05 * (X[:, 7] - 27)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def model() -> ServedModel:
    X, y = _cohort(3000, seed=5)
    train, valid = slice(0, 2000), slice(2000, 3000)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3, "eta": 0.1, "nthread": 1, "seed": 1},
                        xgb.DMatrix(X[train], label=y[train], missing=np.nan), num_boost_round=60)
    margin = booster.predict(xgb.DMatrix(X[valid], missing=np.nan), output_margin=True)
    spec = ModelSpec(name="toy_cad", description="toy", intended_use="tests", target="cad_10y", horizon_years=10,
                     features=NAMES, decision_thresholds=(0.05, 0.2), max_missing_importance=0.3)
    importance = mean_abs_shap(booster, X[valid], NAMES)["feature"]
    feature_spec = {"model": spec.name, "description": "toy", "intended_use": "tests", "task": spec.task,
                    "target": spec.target, "horizon_years": 10, "calibration": "sigmoid",
                    "decision_thresholds": [0.05, 0.2], "max_missing_importance": 0.3,
                    "features": describe_features(spec, X[train], importance)}
    bundle = Bundle(booster=booster, calibrator=fit_calibrator("sigmoid", margin, y[valid]),
                    spec=parse_artifact(feature_spec), digests={}, cards={})
    return served_model_from_bundle("toy_cad", "1", "champion", bundle)


def _predict(model: ServedModel, row: list[float]):  # noqa: ANN202
    X = np.array([row], dtype=float)
    return patient_prediction(model, "p", X[0], explain(model.bundle, X, model.explainer), 0)


TYPICAL = [62, 1, 150, 140, 0, 1, 20, 29]

# --- the risk-points scale -------------------------------------------------------------------------------

phis = st.lists(st.floats(-3, 3, allow_nan=False), min_size=1, max_size=30)


@given(phi=phis, base=st.floats(-6, 3), a=st.floats(0.2, 3), b=st.floats(-2, 2))
def test_risk_points_add_up_to_risk_minus_baseline_with_a_sigmoid_calibrator(phi: list[float], base: float,
                                                                             a: float, b: float) -> None:
    calibrator = SigmoidCalibrator(a, b)
    contributions = np.array([phi])
    risk = calibrator.predict(np.array([base]) + contributions.sum(axis=1))
    out = risk_points.allocate(calibrator, np.array([base]), contributions, risk)
    assert out.points.sum() == pytest.approx(100 * (risk[0] - out.baseline_risk[0]), abs=1e-9)
    assert out.baseline_risk[0] == pytest.approx(calibrator.predict(np.array([base]))[0], abs=0)
    # a monotone calibrator never flips a sign; points below 1e-9 (float rounding of a ~0 risk change) have none
    assert np.all((np.sign(out.points[0]) * np.sign(phi) >= 0) | (np.abs(out.points[0]) < 1e-9))


@given(phi=phis, base=st.floats(-4, 4),
       knots=st.lists(st.tuples(st.floats(-5, 5), st.floats(0, 1)), min_size=2, max_size=12))
def test_risk_points_add_up_with_an_isotonic_calibrator(phi: list[float], base: float,
                                                        knots: list[tuple[float, float]]) -> None:
    xs = sorted(k[0] for k in knots)
    ys = sorted(k[1] for k in knots)
    calibrator = IsotonicCalibrator(xs, ys)
    contributions = np.array([phi])
    risk = calibrator.predict(np.array([base]) + contributions.sum(axis=1))
    out = risk_points.allocate(calibrator, np.array([base]), contributions, risk)
    assert out.points.sum() == pytest.approx(100 * (risk[0] - out.baseline_risk[0]), abs=1e-9)


def test_zero_margin_difference_uses_the_calibrators_slope_at_the_base() -> None:
    calibrator = SigmoidCalibrator(1.0, 0.0)
    contributions = np.array([[0.7, -0.7, 0.0]])
    out = risk_points.allocate(calibrator, np.array([0.0]), contributions, calibrator.predict(np.array([0.0])))
    # slope of the logistic at 0 is 1/4: opposing contributions keep their size, nothing blows up
    assert out.points[0] == pytest.approx([100 * 0.7 / 4, -100 * 0.7 / 4, 0.0], abs=1e-6)
    assert out.points.sum() == pytest.approx(0.0, abs=1e-9)


# --- both scales on a real booster --------------------------------------------------------------------------

def _rows() -> st.SearchStrategy[list[float]]:
    def value(lo: float, hi: float, whole: bool) -> st.SearchStrategy[float]:
        drawn = st.integers(int(lo), int(hi)).map(float) if whole else st.floats(lo, hi)
        return st.one_of(st.just(float("nan")), drawn)
    bounds = [(18, 100, False), (0, 1, True), (20, 400, False), (70, 260, False), (0, 1, True), (0, 1, True),
              (0, 200, False), (12, 80, False)]
    return st.tuples(*(value(*b) for b in bounds)).map(list)


@settings(max_examples=150, deadline=None)
@given(row=_rows())
def test_both_scales_add_up_for_generated_patients(model: ServedModel, row: list[float]) -> None:
    prediction = _predict(model, row)
    if prediction.abstained:
        assert prediction.risk is None and prediction.explanation is None and prediction.risk_points is None
        assert prediction.concepts == [] and prediction.abstain_reason
        return
    margin = float(model.bundle.booster.predict(xgb.DMatrix(np.array([row]), missing=np.nan),
                                                output_margin=True)[0])
    explanation = prediction.explanation
    assert explanation.base_value + sum(c.contribution for c in explanation.contributions) == \
        pytest.approx(margin, abs=1e-4)
    summary = prediction.risk_points
    assert summary.baseline_risk == pytest.approx(
        float(model.bundle.calibrator.predict(np.array([explanation.base_value]))[0]), abs=1e-12)
    assert sum(c.risk_points for c in explanation.contributions) == \
        pytest.approx(100 * (prediction.risk - summary.baseline_risk), abs=1e-9)
    assert sum(c.risk_points for c in prediction.concepts) == \
        pytest.approx(100 * (prediction.risk - summary.baseline_risk), abs=1e-9)
    assert sum(c.log_odds for c in prediction.concepts) == pytest.approx(margin - explanation.base_value, abs=1e-4)


def test_concepts_fold_features_back_with_values_units_and_sources(model: ServedModel) -> None:
    prediction = _predict(model, TYPICAL)
    by_concept = {c.concept: c for c in prediction.concepts}
    assert set(by_concept) == {"Age", "Sex", "LDL cholesterol", "Blood pressure", "Smoking", "Body-mass index"}
    by_feature = {c.feature: c for c in prediction.explanation.contributions}
    smoking = by_concept["Smoking"]
    assert [v.feature for v in smoking.values] == ["current_smoker", "pack_years"]
    assert smoking.log_odds == pytest.approx(by_feature["current_smoker"].contribution
                                             + by_feature["pack_years"].contribution, abs=1e-12)
    assert smoking.risk_points == pytest.approx(by_feature["current_smoker"].risk_points
                                                + by_feature["pack_years"].risk_points, abs=1e-12)
    assert smoking.sources == ["lifestyle"] and by_concept["Age"].sources == ["demographic"]
    assert [v.text for v in smoking.values] == ["yes", "20 pack-years"]
    ldl = by_concept["LDL cholesterol"]
    assert ldl.values[0].text == "150 mg/dL"
    verb = "raises" if ldl.risk_points > 0 else "lowers"
    assert ldl.sentence == f"LDL cholesterol 150 mg/dL {verb} the 10-year risk by {abs(ldl.risk_points):.1f} points"
    assert by_concept["Sex"].sentence.startswith("Sex: male ")
    assert by_concept["Blood pressure"].sentence.startswith(
        "Blood pressure (Systolic blood pressure 140 mmHg; On blood-pressure medication: no) ")
    points = [abs(c.risk_points) for c in prediction.concepts]
    assert points == sorted(points, reverse=True)
    assert prediction.risk_category == risk_category(prediction.risk, model.spec)


def test_declared_features_of_a_users_table_are_their_own_concept_unless_they_name_one() -> None:
    spec = ModelSpec(name="byo", description="d", intended_use="u", target="y", horizon_years=5,
                     features=["age_years", "egfr_ml_min", "cystatin_c_mg_l", "vape_days_month", "current_smoker"],
                     declared_features=[
                         DeclaredFeature(name="egfr_ml_min", display_name="eGFR", unit="mL/min/1.73m2",
                                         kind="continuous", min=5, max=150),
                         DeclaredFeature(name="cystatin_c_mg_l", display_name="Cystatin C", unit="mg/L",
                                         kind="continuous", min=0.2, max=8),
                         DeclaredFeature(name="vape_days_month", display_name="Vaping", unit="days/month",
                                         source="lifestyle", kind="count", min=0, max=31, concept="Smoking")])
    features = [ArtifactFeature.model_validate(f)
                for f in describe_features(spec, np.array([[60, 80, 1.0, 4, 1], [70, 50, 1.4, 0, 0]], dtype=float))]
    concepts = group_concepts(features, np.array([65, 75, 1.1, 10, 1.0]), np.array([0.2, -0.1, 0.05, 0.3, 0.4]),
                              np.array([2.0, -1.0, 0.5, 3.0, 4.0]), 5)
    by_name = {c.concept: c for c in concepts}
    assert set(by_name) == {"Age", "eGFR", "Cystatin C", "Smoking"}
    assert by_name["eGFR"].sources == ["other"] and by_name["eGFR"].values[0].text == "75 mL/min/1.73m2"
    assert [v.feature for v in by_name["Smoking"].values] == ["vape_days_month", "current_smoker"]
    assert by_name["Smoking"].risk_points == pytest.approx(7.0) and by_name["Smoking"].sources == ["lifestyle"]
    assert by_name["Smoking"].sentence == ("Smoking (Vaping 10 days/month; Current smoker: yes) raises the "
                                           "5-year risk by 7.0 points")


def test_risk_category_follows_the_decision_thresholds() -> None:
    spec = toy_artifact([], decision_thresholds=[0.05, 0.2])
    assert [risk_category(r, spec) for r in (0.01, 0.05, 0.19, 0.2, 0.9)] == \
        ["low", "intermediate", "intermediate", "high", "high"]
    assert risk_category(0.5, toy_artifact([])) is None  # a bundle written before thresholds were recorded


def test_value_text_reads_like_a_clinician_writes() -> None:
    assert value_text(toy_feature(unit="mg/dL", kind="continuous"), 190.0) == "190 mg/dL"
    assert value_text(toy_feature(unit="%", kind="continuous"), 7.25) == "7.25 %"
    assert value_text(toy_feature(unit="1 = male, 0 = female", kind="binary"), 0.0) == "female"
    assert value_text(toy_feature(unit="alleles (0-2)", kind="count"), 1.0) == "1 alleles"
    assert value_text(toy_feature(unit="score 0-10 (10 = best)", kind="continuous"), 6.5) == "6.5 (score 0-10)"
    assert value_text(toy_feature(unit="mg/dL", kind="continuous"), float("nan")) == "not recorded"


# --- flags and abstention ---------------------------------------------------------------------------------

def test_flags_an_input_outside_the_training_range_without_repeating_it(model: ServedModel) -> None:
    ldl = model.spec.feature("ldl_mg_dl")
    above = ldl.training_max + 50
    row = [*TYPICAL[:2], above, *TYPICAL[3:]]
    flags = _predict(model, row).flags
    flagged = [f for f in flags if f.feature == "ldl_mg_dl"]
    assert [f.kind for f in flagged] == ["outside_training_range"] and flagged[0].severity == "warning"
    assert f"{above:g}" not in flagged[0].message and "above the highest" in flagged[0].message
    assert not [f for f in flags if f.feature != "ldl_mg_dl"]  # the typical values raise nothing


def test_flags_an_unusual_value_inside_the_range(model: ServedModel) -> None:
    sbp = model.spec.feature("sbp_mm_hg")
    q = sbp.training_quantiles
    row = [*TYPICAL[:3], (sbp.training_max + q["p99"]) / 2, *TYPICAL[4:]]
    kinds = {f.feature: f.kind for f in _predict(model, row).flags}
    assert kinds == {"sbp_mm_hg": "unusual_value"}


def test_flags_a_missing_input_and_still_answers_when_little_is_missing(model: ServedModel) -> None:
    pack_years = NAMES.index("pack_years")
    row = list(TYPICAL)
    row[pack_years] = float("nan")
    prediction = _predict(model, row)
    assert not prediction.abstained and prediction.risk is not None
    assert [(f.kind, f.feature) for f in prediction.flags] == [("missing", "pack_years")]
    assert prediction.missing_features == ["pack_years"]


def test_abstains_when_missing_inputs_carry_too_much_of_the_evidence(model: ServedModel) -> None:
    spec = model.spec
    weights = {f.name: f.mean_abs_shap for f in spec.features}
    optional = [f.name for f in spec.features if not f.required]
    heaviest = sorted(optional, key=weights.get, reverse=True)
    missing, share = [], 0.0
    while share <= spec.max_missing_importance:
        missing.append(heaviest[len(missing)])
        share = sum(weights[m] for m in missing) / sum(weights.values())
    row = [float("nan") if n in missing else v for n, v in zip(NAMES, TYPICAL, strict=True)]
    prediction = _predict(model, row)
    assert prediction.abstained and prediction.risk is None and prediction.risk_percent is None
    assert prediction.explanation is None and prediction.risk_points is None and prediction.concepts == []
    assert f"{share:.0%}" in prediction.abstain_reason and "30%" in prediction.abstain_reason
    assert prediction.flags[0].kind == "abstained" and prediction.flags[0].severity == "critical"
    assert {f.feature for f in prediction.flags if f.kind == "missing"} == set(missing)
    one_less = [float("nan") if n in missing[:-1] else v for n, v in zip(NAMES, TYPICAL, strict=True)]
    assert not _predict(model, one_less).abstained  # just under the threshold: answers


def test_abstains_when_a_required_input_is_missing() -> None:
    spec = toy_artifact([{"name": "a", "display_name": "Age", "required": True, "unit": "years"},
                         {"name": "b", "display_name": "LDL", "required": False, "unit": "mg/dL"}])
    assert "required input is missing (Age)" in abstain_reason(spec, np.array([np.nan, 1.0]))
    assert abstain_reason(spec, np.array([50.0, 1.0])) is None


def test_older_bundles_without_training_statistics_still_work() -> None:
    features = [{"name": n, "display_name": n, "unit": "u", "kind": "continuous"} for n in "abcd"]
    spec = toy_artifact(features)  # no training range, quantiles, importance or threshold
    assert assess(spec, np.array([1e6, -1e6, 1.0, 2.0])).flags == []
    assert assess(spec, np.array([np.nan, 1.0, 2.0, 3.0])).abstain_reason is None  # 25% <= default 40%
    reason = assess(spec, np.array([np.nan, np.nan, 2.0, 3.0])).abstain_reason  # equal weights: 50%
    assert reason and "50%" in reason
