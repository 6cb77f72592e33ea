"""Shared fixtures: isolated pmed settings and small, seeded feature tables with a known truth."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import settings as hypothesis_settings

from features.registry import FEATURES
from features.sim.truth import CAD_HORIZON_DAYS, CAD_WEIBULL_SHAPE, event_days
from kernel.settings import Settings

REPO = Path(__file__).resolve().parents[1]
# the binary 10-year CAD spec (task: risk_classification, name cad_risk) that models/cad_risk.yaml was before it
# became a survival model; tests about risk models train this one
CAD_BINARY_SPEC = REPO / "tests" / "specs" / "cad_risk_binary.yaml"

# Property tests explore a fixed sequence of examples, so a run is reproducible and CI cannot fail on an input
# a previous run never drew (a sign check once tripped on a 1e-41 contribution); local runs keep exploring with
# HYPOTHESIS_PROFILE=explore.
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings whose every path lies in a fresh temporary PMED_HOME."""
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return Settings(home=tmp_path / ".pmed", models_dir=REPO / "models", _env_file=None)


def write_feature_table(folder: Path, n: int, seed: int, signal: float = 1.0) -> Path:
    """features.parquet + outcomes.parquet in the pipeline's layout, outcomes drawn from a known logit.

    ``signal=0`` makes the outcome pure noise (a model that must fail its gates). ``cad_10y`` is the 10-year
    outcome as if everyone were followed for 10 years; ``cad_time_days`` / ``cad_event`` are the same draw as a
    time to event (the simulator's Weibull proportional hazards, so the risk at 3652.5 days is the true risk),
    censored uniformly between 3 and 13 years and at 3653 days (the feature build caps follow-up at 10 years).
    """
    rng = np.random.default_rng(seed)
    table = {"patient_key": [f"pk{seed}_{i:06d}" for i in range(n)]}
    for f in FEATURES:
        if f.kind == "binary":
            table[f.name] = rng.integers(0, 2, n).astype(float)
        elif f.kind == "count":
            table[f.name] = rng.integers(0, 3, n).astype(float)
        else:
            span = f.max - f.min
            table[f.name] = np.round(rng.uniform(f.min + 0.3 * span, f.min + 0.6 * span, n), 2)
    features = pd.DataFrame(table)
    features.loc[rng.random(n) < 0.1, "ldl_mg_dl"] = np.nan
    z = lambda name: (features[name] - features[name].mean()) / features[name].std()  # noqa: E731
    logit = -2.0 + signal * (0.9 * z("age_years") + 0.7 * z("ldl_mg_dl").fillna(0) + 0.6 * z("sbp_mm_hg")
                             + 0.8 * features["current_smoker"] + 0.5 * z("cad_prs_sum")
                             + 0.6 * z("bmi_kg_m2") + 0.7 * z("hba1c_pct"))
    risk = 1 / (1 + np.exp(-logit))
    u_cad = rng.random(n)
    outcomes = pd.DataFrame({
        "patient_key": features["patient_key"],
        "cad_10y": pd.array(u_cad < risk, dtype="Int8"),
        "t2d_5y": pd.array(rng.random(n) < risk, dtype="Int8"),
        "true_risk_cad_10y": risk, "true_risk_t2d_5y": risk,
        "sex": np.where(features["sex_male"] == 1, "M", "F"),
    })
    event_day = np.ceil(event_days(u_cad, risk.to_numpy(), CAD_HORIZON_DAYS, CAD_WEIBULL_SHAPE))
    censor_day = np.minimum(np.floor(rng.uniform(3 * 365.25, 13 * 365.25, n)), 3653)
    outcomes["cad_time_days"] = np.minimum(event_day, censor_day)
    outcomes["cad_event"] = pd.array(event_day <= censor_day, dtype="Int8")
    # the other cohort columns a build writes, so a spec's subgroups (sex, ancestry, age_band, site) all exist
    outcomes["ancestry"] = rng.choice(["EUR", "AFR", "EAS", "SAS", "AMR"], n, p=[0.6, 0.13, 0.08, 0.07, 0.12])
    outcomes["site"] = rng.choice(["site_a", "site_b", "site_c", "site_d"], n, p=[0.4, 0.3, 0.2, 0.1])
    outcomes["age_band"] = pd.cut(features["age_years"], [0, 45, 55, 65, 75, 200], right=False,
                                  labels=["<45", "45-54", "55-64", "65-74", "75+"]).astype(str)
    # pack-years go unrecorded for some patients (as in a real EHR), so a blank one is a missing value the model
    # has seen in training, not one it never learned (which abstains: serving.flags); own stream, draws above kept
    features.loc[np.random.default_rng(seed + 1).random(n) < 0.1, "pack_years"] = np.nan
    folder.mkdir(parents=True, exist_ok=True)
    features.insert(1, "index_date", pd.Timestamp("2015-01-01"))
    features.to_parquet(folder / "features.parquet", index=False)
    outcomes.to_parquet(folder / "outcomes.parquet", index=False)
    return folder


@pytest.fixture
def feature_dir(tmp_path: Path) -> Path:
    return write_feature_table(tmp_path / "features", n=3000, seed=7)


def require_tool(name: str) -> str:
    """Path of a system tool a test runs for real. Under `make test` (CI) a missing tool fails the test;
    in an ad-hoc pytest run without it, the test is skipped with the reason."""
    import os
    import shutil

    import pytest

    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (make system-deps installs it)"
        if os.environ.get("PMED_REQUIRE_SYSTEM_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path
