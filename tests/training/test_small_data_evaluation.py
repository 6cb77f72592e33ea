"""Evaluation that holds on small data (docs/evaluation.md): repeated k-fold cross-validation with CIs, chosen
by pmed when the test split has too few events; gates on CI bounds; the calibration slope judged on its CI;
the model against its own linear baseline (paired); the champion comparison paired with a floor that small
losses cannot ratchet past; a horizon that does not match the target refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from mlflow import MlflowClient

from kernel.settings import Settings
from tests.conftest import REPO, write_feature_table
from training.cv import AUTO, CVPlan, corrected_ci, cv_splits, plan_cv
from training.data import DataError, load_training_data
from training.evaluate import evaluate_risk
from training.fit import fit_model
from training.gates import ChampionComparison, champion_gate, check_gates
from training.risk.cv import cross_validate
from training.risk.report import linear_comparison
from training.spec import EvaluationSpec, Gates, ModelSpec, SpecError, SplitFractions, load_spec
from training.split import split_cohort


def _spec(tmp_path: Path, **changes: Any) -> Path:
    raw = yaml.safe_load((REPO / "models" / "t2d_risk.yaml").read_text())
    raw.update(subgroups=["sex"], bootstrap_samples=100,
               xgboost={**raw["xgboost"], "n_estimators": 300, "early_stopping_rounds": 20, "nthread": 1})
    for key, value in changes.items():
        if key in ("gates", "xgboost"):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    path = tmp_path / "t2d_risk.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _risk_metrics(**values: float) -> dict[str, float]:
    base = {"auroc": 0.8, "auroc_ci_low": 0.75, "auroc_ci_high": 0.85, "brier": 0.1, "calibration_slope": 1.0,
            "calibration_slope_ci_low": 0.9, "calibration_slope_ci_high": 1.1, "events": 100.0}
    return {**base, **values}


# -- cross-validation -------------------------------------------------------------------------------------------

def test_folds_are_stratified_seeded_and_score_every_patient_once_per_repeat() -> None:
    y = (np.arange(300) % 10 == 0).astype(int)  # 30 events
    plan = CVPlan(5, 3, "spec", "test")
    splits = cv_splits(y, plan, SplitFractions(), seed=4)
    assert len(splits) == 15
    for repeat in range(3):
        tested = np.concatenate([s.test for s in splits[repeat * 5:(repeat + 1) * 5]])
        assert sorted(tested) == list(range(300))  # each patient held out exactly once per repeat
    for s in splits:
        assert set(s.train).isdisjoint(s.test) and set(s.validation).isdisjoint(s.test)
        assert set(s.train).isdisjoint(s.validation) and len(s.train) + len(s.validation) + len(s.test) == 300
        assert y[s.test].sum() == 6  # stratified: every fold has its share of the events
        assert len(s.validation) == pytest.approx(0.25 * 240, abs=1)  # the spec's train:validation = 60:20
    again = cv_splits(y, plan, SplitFractions(), seed=4)
    assert all(np.array_equal(a.test, b.test) and np.array_equal(a.train, b.train) for a, b in zip(splits, again,
                                                                                                    strict=True))
    assert not np.array_equal(cv_splits(y, plan, SplitFractions(), seed=5)[0].test, splits[0].test)
    with pytest.raises(DataError, match="at least 5 patients of each outcome"):
        cv_splits(np.r_[np.ones(3), np.zeros(100)], plan, SplitFractions(), seed=0)


def test_the_cv_interval_is_corrected_for_overlapping_training_sets() -> None:
    values = np.array([0.70, 0.74, 0.72, 0.78, 0.69, 0.75, 0.71, 0.73, 0.77, 0.70])
    mean, low, high = corrected_ci(values, folds=5)
    naive = 2.262 * values.std(ddof=1) / np.sqrt(len(values))
    assert mean == pytest.approx(values.mean())
    assert high - mean == pytest.approx(2.262 * values.std(ddof=1) * np.sqrt(1 / 10 + 1 / 4), rel=1e-3)
    assert (high - low) / 2 > 1.8 * naive  # sqrt(3.5): the plain t interval is about half as wide


def test_cross_validation_refits_each_fold_and_reports_means_with_cis(tmp_path: Path) -> None:
    folder = write_feature_table(tmp_path / "f", n=400, seed=3)
    spec = load_spec(_spec(tmp_path))
    data = load_training_data(folder, spec)
    lines: list[str] = []
    plan = CVPlan(4, 2, "spec", "asked for by the spec's evaluation")
    metrics = cross_validate(spec, data, plan, lines.append)
    assert metrics["cv.folds"] == 4 and metrics["cv.repeats"] == 2 and metrics["cv.n"] == 400
    assert metrics["cv.events"] == data.y.sum()
    for name in ("auroc", "auprc", "brier", "calibration_slope", "logistic_regression.auroc",
                 "vs_logistic_regression.auroc_diff"):
        assert metrics[f"cv.{name}_ci_low"] < metrics[f"cv.{name}"] < metrics[f"cv.{name}_ci_high"], name
    assert 0.6 < metrics["cv.auroc"] < 0.95
    fold_lines = [line for line in lines if line.startswith("cross-validation fold")]
    assert len(fold_lines) == 8 and "fold 4/4, repeat 2/2" in fold_lines[-1]


def test_pmed_chooses_cross_validation_when_the_test_split_has_too_few_events() -> None:
    assert plan_cv(None, test_events=40, min_test_events=20) is None
    plan = plan_cv(None, test_events=12, min_test_events=20)
    assert plan is not None and (plan.folds, plan.repeats) == (AUTO.cv_folds, AUTO.repeats)
    assert plan.chosen_by == "pmed" and "12 events, fewer than min_test_events 20" in plan.describe()
    asked = plan_cv(EvaluationSpec(cv_folds=3, repeats=4), test_events=500, min_test_events=20)
    assert asked is not None and (asked.folds, asked.repeats, asked.chosen_by) == (3, 4, "spec")


def test_a_small_cohort_is_cross_validated_said_so_and_gated_on_the_cv_figures(settings: Settings,
                                                                             tmp_path: Path) -> None:
    from training.pipeline import train_from_spec

    folder = write_feature_table(tmp_path / "f", n=300, seed=5)
    lines: list[str] = []
    spec = _spec(tmp_path, gates={"min_test_events": 25, "min_subgroup_auroc": 0.0, "min_auroc": 0.6})
    outcome = train_from_spec(spec, folder, settings, progress=lines.append)
    said = [line for line in lines if "chosen by pmed" in line]
    assert said and "fewer than min_test_events 25" in said[0], lines
    assert sum(line.startswith("cross-validation fold") for line in lines) == 10
    m = outcome.metrics
    assert m["events"] < 25 <= m["cv.events"]  # the test split alone would fail min_test_events
    gates = {g.name: g for g in outcome.gates}
    assert gates["min_auroc"].value == m["cv.auroc"] and "cross-validation" in gates["min_auroc"].rule
    assert gates["min_test_events"].value == m["cv.events"] and gates["min_test_events"].passed
    run = MlflowClient(tracking_uri=settings.mlflow_tracking_uri).get_run(outcome.run_id)
    for name in ("cv.auroc", "cv.auroc_ci_low", "cv.auroc_ci_high", "cv.calibration_slope_ci_low", "cv.folds"):
        assert name in run.data.metrics, name


# -- CI-bound gates ---------------------------------------------------------------------------------------------

def _weak(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """~90 patients, ~20 events, a model barely above chance."""
    rng = np.random.default_rng(seed)
    score = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.4 + 0.15 * score)))).astype(int)
    return y, 1 / (1 + np.exp(-(-1.4 + 0.5 * score)))


def test_a_barely_better_than_chance_model_on_90_patients_fails_min_auroc_ci_low() -> None:
    y, risk = _weak(90, seed=36)
    metrics = evaluate_risk(y, risk, seed=0, n_boot=300)
    assert 0.5 < metrics["auroc"] < 0.6 and metrics["auroc_ci_low"] < 0.45  # AUROC ~0.53, CI reaching far below
    gates = {g.name: g for g in check_gates(Gates(min_auroc=0.5, min_auroc_ci_low=0.6), {**metrics, "events": 25})}
    assert gates["min_auroc"].passed  # the point estimate alone lets it through
    assert not gates["min_auroc_ci_low"].passed and gates["min_auroc_ci_low"].value == metrics["auroc_ci_low"]
    assert "min_auroc_ci_low" not in {g.name for g in check_gates(Gates(), {**metrics, "events": 25})}


def test_a_subgroup_fails_min_subgroup_auroc_only_when_its_whole_ci_lies_below_the_threshold() -> None:
    gates = Gates(min_subgroup_auroc=0.6)
    by_chance = {g.name: g for g in check_gates(gates, _risk_metrics(worst_subgroup_auroc=0.58,
                                                                     worst_subgroup_auroc_ci_high=0.71))}
    assert by_chance["min_subgroup_auroc"].passed and by_chance["min_subgroup_auroc"].value == 0.58
    shown = {g.name: g for g in check_gates(gates, _risk_metrics(worst_subgroup_auroc=0.52,
                                                                  worst_subgroup_auroc_ci_high=0.57))}
    assert not shown["min_subgroup_auroc"].passed and "beyond noise" in shown["min_subgroup_auroc"].rule
    unknown = {g.name: g for g in check_gates(gates, _risk_metrics())}  # no group could be scored: not shown safe
    assert not unknown["min_subgroup_auroc"].passed


def test_the_slope_gate_judges_the_ci_and_says_when_there_are_too_few_events() -> None:
    y, risk = _weak(90, seed=36)
    small = evaluate_risk(y, risk, seed=0, n_boot=200)
    assert small["calibration_slope_ci_low"] < small["calibration_slope"] < small["calibration_slope_ci_high"]
    slope = next(g for g in check_gates(Gates(), {**small, "events": 25}) if g.name == "calibration_slope")
    assert not slope.passed and "too few events to judge" in slope.rule
    rng = np.random.default_rng(1)
    true = 1 / (1 + np.exp(-rng.normal(-1.5, 1.2, 6000)))
    y_big = (rng.random(6000) < true).astype(int)
    overconfident = 1 / (1 + np.exp(-2.0 * np.log(true / (1 - true))))  # slope 0.5: far too extreme
    for served, passes in ((true, True), (overconfident, False)):
        metrics = {**evaluate_risk(y_big, served, seed=0, n_boot=100), "events": float(y_big.sum())}
        gate = next(g for g in check_gates(Gates(), metrics) if g.name == "calibration_slope")
        assert gate.passed is passes, (gate.rule, metrics["calibration_slope"])
        assert "too few events" not in gate.rule


# -- against its own linear baseline ----------------------------------------------------------------------------

def test_a_model_trailing_logistic_regression_is_refused_and_one_equal_within_noise_passes(tmp_path: Path) -> None:
    folder = write_feature_table(tmp_path / "f", n=2500, seed=21)
    stumps = load_spec(_spec(tmp_path, xgboost={"max_depth": 1, "n_estimators": 3, "learning_rate": 0.3}))
    data = load_training_data(folder, stumps)
    split = split_cohort(data.keys, data.cohort, stumps.split, stumps.seed)
    from training.risk.baselines import logistic_baseline

    y = data.y[split.test]
    linear = logistic_baseline(0).fit(data.X[split.train], data.y[split.train]).predict_proba(data.X[split.test])[:, 1]
    underfit = fit_model(stumps, data, split).risk(data.X[split.test])
    trailing = linear_comparison(y, underfit, linear, seed=0, n_boot=200)
    assert trailing["vs_logistic_regression.auroc_diff_ci_high"] < -0.01
    metrics = {**_risk_metrics(), **trailing}
    gate = next(g for g in check_gates(Gates(), metrics) if g.name == "vs_linear_baseline")
    assert not gate.passed and gate.value == trailing["vs_logistic_regression.auroc_diff"]
    rng = np.random.default_rng(0)
    close = np.clip(linear + rng.normal(0, 0.01, len(linear)), 1e-4, 1 - 1e-4)  # the same model, up to noise
    equal = linear_comparison(y, close, linear, seed=0, n_boot=200)
    assert equal["vs_logistic_regression.auroc_diff_ci_low"] < 0 < equal["vs_logistic_regression.auroc_diff_ci_high"]
    assert next(g for g in check_gates(Gates(), {**_risk_metrics(), **equal}) if g.name == "vs_linear_baseline").passed
    off = check_gates(Gates(max_auroc_deficit_vs_linear=None), metrics)
    assert "vs_linear_baseline" not in {g.name for g in off}


# -- the champion, paired, with a floor ------------------------------------------------------------------------

def _register(client: MlflowClient, name: str, auroc: float) -> str:
    import mlflow

    with mlflow.start_run() as run:
        mlflow.log_metric("auroc", auroc)
    version = client.create_model_version(name, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id)
    client.set_model_version_tag(name, version.version, "pmed.gates", "passed")
    return str(version.version)


def test_three_slightly_worse_retrains_cannot_ratchet_past_the_best_promoted(settings: Settings) -> None:
    """Each retrain trails the champion before it by 0.008 AUROC (within the 0.02 margin, and within noise); the
    third is 0.024 below the best version ever promoted and is refused."""
    from training.champion import best_promoted
    from training.tracking import configure_mlflow

    client = configure_mlflow(settings)
    client.create_registered_model("t2d_risk")
    assert best_promoted(client, "t2d_risk", "auroc") is None
    champion = _register(client, "t2d_risk", 0.800)
    outcomes, rules = [], []
    for score in (0.792, 0.784, 0.776):
        best = best_promoted(client, "t2d_risk", "auroc")
        assert best is not None
        comparison = ChampionComparison(metric="AUROC", version=champion, n=400, score=score, diff=-0.008,
                                        ci_low=-0.03, ci_high=0.014, best_version=best[0], best_score=best[1])
        gate = champion_gate(comparison, margin=0.02)
        outcomes.append(gate.passed)
        rules.append(gate.rule)
        if gate.passed:
            champion = _register(client, "t2d_risk", score)
    assert outcomes == [True, True, False]
    assert "best ever promoted (version 1) 0.800" in rules[-1]
    failed = client.create_model_version("t2d_risk", source="x", run_id=None)  # a failed version never counts
    client.set_model_version_tag("t2d_risk", failed.version, "pmed.gates", "failed")
    assert best_promoted(client, "t2d_risk", "auroc") == ("1", 0.8)


def test_the_champion_gate_refuses_a_retrain_worse_beyond_noise_or_beyond_the_margin() -> None:
    def gate(diff: float, low: float, high: float) -> bool:
        return champion_gate(ChampionComparison("AUROC", "3", 500, 0.8 + diff, diff, low, high), 0.02).passed

    assert gate(0.0, 0.0, 0.0)  # an identical retrain
    assert gate(-0.01, -0.04, 0.02)  # slightly worse, within noise and the margin
    assert not gate(-0.01, -0.015, -0.005)  # slightly worse, but beyond noise on the same patients
    assert not gate(-0.03, -0.08, 0.02)  # beyond the margin


def test_a_version_worse_than_the_champion_is_refused_through_the_pipeline(settings: Settings,
                                                                            tmp_path: Path) -> None:
    from training.pipeline import train_from_spec

    folder = write_feature_table(tmp_path / "f", n=1500, seed=7)
    first = train_from_spec(_spec(tmp_path, gates={"min_subgroup_auroc": 0.0, "min_auroc_ci_low": None}), folder,
                            settings)
    assert first.promoted, first.gates
    again = train_from_spec(_spec(tmp_path, gates={"min_subgroup_auroc": 0.0, "min_auroc_ci_low": None}), folder,
                            settings)
    champion = next(g for g in again.gates if g.name == "vs_champion")
    assert champion.passed and champion.value == 0.0  # the same data and seed: the same model
    weak = _spec(tmp_path, features=["sex_male", "sleep_hours", "age_years"], monotone_constraints={},
                 gates={"min_auroc": 0.5, "calibration_slope": [0.0, 10.0], "min_subgroup_auroc": 0.0})
    worse = train_from_spec(weak, folder, settings)
    gate = next(g for g in worse.gates if g.name == "vs_champion")
    assert not gate.passed and gate.value < -0.02 and "best ever promoted" in gate.rule


# -- the horizon -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("target", "horizon", "message"), [
    ("t2d_5y", 10, r"horizon_years 10 does not match the target: pmed's outcome t2d_5y is defined over 5 years"),
    ("cad_10y", 5, r"horizon_years 5 does not match the target: pmed's outcome cad_10y is defined over 10 years"),
    ("relapse_3y", 5, r"horizon_years 5 does not match the target: target relapse_3y names 3 years"),
])
def test_a_horizon_that_does_not_match_the_target_is_refused(tmp_path: Path, target: str, horizon: float,
                                                             message: str) -> None:
    with pytest.raises(SpecError, match=message):
        load_spec(_spec(tmp_path, target=target, horizon_years=horizon))


def test_a_matching_or_unnamed_horizon_is_accepted(tmp_path: Path) -> None:
    assert load_spec(_spec(tmp_path, target="t2d_5y", horizon_years=5)).horizon_years == 5
    assert load_spec(_spec(tmp_path, target="relapse", horizon_years=2)).horizon_years == 2
    assert isinstance(load_spec(_spec(tmp_path, evaluation={"cv_folds": 3, "repeats": 2})), ModelSpec)
    with pytest.raises(SpecError, match=r"evaluation\.cv_folds"):
        load_spec(_spec(tmp_path, evaluation={"cv_folds": 1}))


# -- survival -----------------------------------------------------------------------------------------------------

def _survival_metrics(**values: float) -> dict[str, float]:
    base = {"c_index": 0.7, "c_index_ci_low": 0.62, "observed_expected_at_horizon": 1.0, "brier_at_horizon": 0.2,
            "test_events": 40.0, "cox_ph.c_index": 0.7, "vs_cox_ph.c_index_diff": 0.0,
            "vs_cox_ph.c_index_diff_ci_low": -0.04, "vs_cox_ph.c_index_diff_ci_high": 0.04}
    return {**base, **values}


def test_survival_gates_judge_the_c_index_ci_the_cox_baseline_and_the_champion() -> None:
    from training.survival.parts import SurvivalGates, check_survival_gates

    def gates(gates: SurvivalGates, champion: ChampionComparison | None = None,
              values: dict[str, float] | None = None) -> dict[str, bool]:
        return {g.name: g.passed for g in check_survival_gates(gates, _survival_metrics(**(values or {})), champion)}

    assert gates(SurvivalGates())["vs_linear_baseline"]  # equal to Cox within noise
    assert "min_c_index_ci_low" not in gates(SurvivalGates())
    assert not gates(SurvivalGates(min_c_index_ci_low=0.65))["min_c_index_ci_low"]
    trailing = gates(SurvivalGates(), None, {"vs_cox_ph.c_index_diff": -0.06, "vs_cox_ph.c_index_diff_ci_high": -0.02})
    assert not trailing["vs_linear_baseline"] and trailing["min_c_index"]
    worse = ChampionComparison("Harrell C", "1", 100, 0.66, -0.04, -0.07, -0.01, "1", 0.7)
    assert not gates(SurvivalGates(), worse)["vs_champion"]
    assert "vs_champion" not in gates(SurvivalGates(max_c_index_drop_vs_champion=None), worse)


def test_a_small_survival_cohort_is_cross_validated_and_compared_with_its_champion(settings: Settings,
                                                                                  tmp_path: Path) -> None:
    """The veterans' lung cancer trial (137 patients): its test split has fewer events than min_test_events
    asks, so pmed cross-validates (and says so); a second identical run is compared with the first, paired."""
    from tests.training.test_survival import VETERAN_SPEC, veteran_table, write_spec
    from training.pipeline import train_from_spec

    spec = write_spec(tmp_path, {**VETERAN_SPEC, "bootstrap_samples": 50,
                                 "survival_gates": {"min_c_index": 0.55, "min_test_events": 60}})
    table = veteran_table(tmp_path / "veteran.csv")
    lines: list[str] = []
    first = train_from_spec(spec, None, settings, progress=lines.append, table=table)
    assert any("chosen by pmed" in line and "fewer than min_test_events 60" in line for line in lines), lines
    assert sum(line.startswith("cross-validation fold") for line in lines) == 10
    m = first.metrics
    for name in ("c_index", "cox_ph.c_index", "vs_cox_ph.c_index_diff", "observed_expected_at_horizon"):
        assert m[f"cv.{name}_ci_low"] < m[f"cv.{name}"] < m[f"cv.{name}_ci_high"], name
    assert m["vs_cox_ph.c_index_diff_ci_low"] <= m["vs_cox_ph.c_index_diff"] <= m["vs_cox_ph.c_index_diff_ci_high"]
    gates = {g.name: g for g in first.gates}
    assert gates["min_c_index"].value == m["cv.c_index"] and gates["min_test_events"].value == m["cv.events"]
    assert "vs_linear_baseline" in gates and "vs_champion" not in gates
    second = train_from_spec(spec, None, settings, table=table)
    champion = next(g for g in second.gates if g.name == "vs_champion")
    assert champion.value == pytest.approx(0.0) and "version 1" in champion.rule
