"""The dose-regression task on a slice of the real IWPC cohort: site folds, training, MLflow, registry, bundle."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
import yaml

from features.iwpc import load_raw_iwpc, prepare_iwpc
from kernel.bundle import read_bundle
from kernel.calibration import DoseIntervalCalibrator
from kernel.model_registry import download_version, registry_client, version_for_alias
from kernel.settings import Settings
from training.data import load_table
from training.pipeline import train_from_spec
from training.spec import SpecError, load_spec
from training.split import site_folds

REPO = Path(__file__).resolve().parents[2]
SLICE_SITES = ["site_02", "site_06", "site_10", "site_12", "site_16", "site_17", "site_20", "site_22"]


@pytest.fixture(scope="module")
def iwpc_table() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="pmed-iwpc-"))
    table = prepare_iwpc(load_raw_iwpc()).table
    path = folder / "iwpc.parquet"
    table.to_parquet(path, index=False)
    return path


def _spec(tmp_path: Path, **changes: object) -> Path:
    raw = yaml.safe_load((REPO / "models" / "warfarin_dose.yaml").read_text())
    raw["xgboost"].update(n_estimators=300, learning_rate=0.1, early_stopping_rounds=20)
    raw["split"]["folds"] = 3
    raw["bootstrap_samples"] = 20
    raw["gates"].update(min_test_patients=100, max_mae_vs_baseline=None)
    raw.update(changes)
    path = tmp_path / "warfarin_dose.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_site_folds_never_leak_a_site(iwpc_table: Path, tmp_path: Path) -> None:
    spec = load_spec(_spec(tmp_path, split={"train": 0.6, "validation": 0.2, "test": 0.2, "by": "site", "folds": 5}))
    data = load_table(iwpc_table, spec)
    sites = data.cohort["site"].to_numpy()
    folds = site_folds(data.keys, data.cohort, spec.split, spec.seed)
    held_out = [set(sites[f.test]) for f in folds]
    assert sorted(s for part in held_out for s in part) == sorted(set(sites))  # each site held out exactly once
    for fold, test_sites in zip(folds, held_out, strict=True):
        assert not test_sites & set(sites[np.concatenate([fold.train, fold.validation])])
        assert sorted(np.concatenate([fold.train, fold.validation, fold.test])) == list(range(len(sites)))
    sizes = [len(f.test) for f in folds]
    assert max(sizes) < 1.5 * min(sizes)  # whole sites dealt so folds stay balanced


@pytest.mark.slow
def test_dose_model_trains_evaluates_registers_and_bundles(iwpc_table: Path, settings: Settings,
                                                            tmp_path: Path) -> None:
    table = pd.read_parquet(iwpc_table)
    small = tmp_path / "slice.parquet"
    table[table["site"].isin(SLICE_SITES)].to_parquet(small, index=False)
    outcome = train_from_spec(_spec(tmp_path), None, settings, table=small)
    metrics = outcome.metrics
    for key in ("mae", "mae_ci_low", "pw20", "r2", "interval_coverage", "iwpc_pharmacogenetic.mae",
                "iwpc_clinical.pw20", "fixed_35mg_week.mae", "iwpc_form_refit.mae", "fold_1.mae",
                "race.Black.iwpc_pharmacogenetic.mae", "dose_band.low (<=21).pw20", "vs_iwpc_pharmacogenetic.mae_diff"):
        assert key in metrics, key
    assert metrics["mae_ci_low"] <= metrics["mae"] <= metrics["mae_ci_high"]
    assert metrics["mae"] < metrics["fixed_35mg_week.mae"]  # genotype-aware prediction beats a fixed dose
    assert metrics["n"] == table["site"].isin(SLICE_SITES).sum()
    assert outcome.promoted and {g.name for g in outcome.gates} >= {"max_mae", "min_pw20", "min_interval_coverage"}
    client = registry_client(settings)
    assert str(version_for_alias(client, "warfarin_dose", "champion").version) == outcome.version
    run = client.get_run(outcome.run_id)
    assert run.data.params["target_transform"] == "sqrt" and "iwpc_pharmacogenetic.mae" in run.data.metrics
    bundle = read_bundle(download_version(client, "warfarin_dose", outcome.version, tmp_path / "dl"))
    assert isinstance(bundle.calibrator, DoseIntervalCalibrator) and bundle.spec.task == "dose_regression"
    assert "IWPC pharmacogenetic" in bundle.cards["model_card.md"]
    X = table[bundle.feature_names].head(50).astype("float64").to_numpy()
    dose = bundle.risk(X)  # the bundle's one prediction path: margin -> calibrator (here: squared, mg/week)
    low, high = bundle.calibrator.interval(bundle.booster.predict(xgb.DMatrix(X, missing=np.nan), output_margin=True))
    assert (dose > 0).all() and (low < dose).all() and (dose < high).all()


def test_dose_spec_needs_site_folds_and_dose_gates(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="folds"):
        load_spec(_spec(tmp_path, split={"train": 0.6, "validation": 0.2, "test": 0.2}))
    with pytest.raises(SpecError, match="dose gates"):
        load_spec(_spec(tmp_path, gates={"min_auroc": 0.7}))


def test_conformal_interval_covers_its_level_on_exchangeable_data() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(3, 8, 4000)
    dose = (truth * np.exp(rng.normal(0, 0.2, 4000))) ** 2
    calibrator = DoseIntervalCalibrator("sqrt", 0.9).fit(truth[:2000], dose[:2000])
    low, high = calibrator.interval(truth[2000:])
    assert 0.87 < np.mean((dose[2000:] >= low) & (dose[2000:] <= high)) < 0.93
