"""Acceptance on the demo-sized simulated cohort (40,000 patients):
- the binary CAD model (tests/specs/cad_risk_binary.yaml, patients censored before 10 years dropped) has a
  held-out AUROC within 0.02 of the oracle's (true risks, same test patients), and both are logged in the run;
- the five largest true effects are the model's five largest mean |SHAP| features;
- the demo's survival cad_risk (models/cad_risk.yaml, censored patients kept) reaches the oracle's C-index within
  0.015 and is calibrated at 10 years, where the binary model over-predicts (bench/survival_bench.py measures the
  issue-12 targets at 100,000 patients).

The pseudonym link file is seeded here so the split, and so the whole test, is deterministic: across
random splits the gap measured 0.009 +- 0.002 and the top five matched in 10 of 10 (the 5th/6th margin,
SBP or sex vs HDL, was as small as 6%).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.sim.truth import cad_10y_logit
from features.simulate import simulate_cohort
from features.table import build_feature_table
from kernel.model_registry import registry_client
from kernel.settings import Settings
from training.pipeline import train_from_spec

REPO = Path(__file__).resolve().parents[2]
TRUTH_INPUTS = {"age": "age_years", "male": "sex_male", "ldl": "ldl_mg_dl", "hdl": "hdl_mg_dl", "sbp": "sbp_mm_hg",
                "current_smoker": "current_smoker", "t2d": "t2d_dx", "statin": "statin_rx",
                "activity": "physical_activity_min_wk", "sleep": "sleep_hours", "cad_prs_z": "cad_prs_sum"}


def true_effect_sizes(features: pd.DataFrame) -> dict[str, float]:
    """Mean |change in the true CAD logit| when one input is set to its mean (complete cases)."""
    prs = features["cad_prs_sum"]
    traits = pd.DataFrame({t: features[f] for t, f in TRUTH_INPUTS.items()})
    traits["cad_prs_z"] = (prs - prs.mean()) / prs.std()
    traits = traits.dropna()
    base = cad_10y_logit(traits)
    return {f: float(np.abs(base - cad_10y_logit(traits.assign(**{t: traits[t].mean()}))).mean())
            for t, f in TRUTH_INPUTS.items()}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo-sized cohort, simulated and built once for both models."""
    tmp_path = tmp_path_factory.mktemp("oracle")
    simulate_cohort(tmp_path / "raw", 40_000, 20261128)
    ids = pd.read_csv(tmp_path / "raw" / "patients.csv", dtype=str)["patient_id"]
    keys = [f"pk_{k:016x}" for k in np.random.default_rng(7).choice(2**62, len(ids), replace=False)]
    pd.DataFrame({"patient_id": ids, "patient_key": keys}).to_csv(tmp_path / "links.csv", index=False)
    build_feature_table(tmp_path / "raw", tmp_path / "features", tmp_path / "links.csv", tmp_path / "q.csv")
    return tmp_path / "features"


@pytest.mark.slow
def test_survival_cad_model_reaches_the_oracle_and_is_calibrated_where_the_binary_one_is_not(
        settings: Settings, cohort: Path) -> None:
    outcome = train_from_spec(REPO / "models" / "cad_risk.yaml", cohort, settings)
    m = outcome.metrics
    assert outcome.promoted, outcome.gates
    assert m["c_index"] >= m["oracle_c_index"] - 0.015, m
    assert 0.9 <= m["observed_expected_at_horizon"] <= 1.1
    assert m["naive_binary.observed_expected_at_horizon"] < 0.9  # dropping the censored over-predicts
    assert abs(m["oracle_observed_expected_at_horizon"] - 1) < 0.1


@pytest.mark.slow
def test_cad_model_reaches_the_oracle_and_finds_the_true_drivers(settings: Settings, cohort: Path,
                                                                 tmp_path: Path) -> None:
    outcome = train_from_spec(REPO / "tests" / "specs" / "cad_risk_binary.yaml", cohort, settings)
    client = registry_client(settings)
    metrics = client.get_run(outcome.run_id).data.metrics
    assert metrics["oracle_auroc"] - metrics["auroc"] <= 0.02, metrics
    assert outcome.promoted
    report = json.loads(Path(client.download_artifacts(outcome.run_id, "reports/evaluation.json", str(tmp_path)))
                        .read_text())
    model_top5 = list(report["importance"]["feature"])[:5]
    effects = true_effect_sizes(pd.read_parquet(cohort / "features.parquet"))
    true_top5 = sorted(effects, key=effects.get, reverse=True)[:5]
    assert set(model_top5) == set(true_top5), (model_top5, true_top5)
