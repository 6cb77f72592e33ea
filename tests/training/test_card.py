"""The model card tells the truth about the data: where it came from, what was done to it, and which sensitive
attributes are model features rather than only subgroup columns."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from training.card import (
    is_sensitive,
    provenance_facts,
    provenance_section,
    render_markdown,
    sensitive_attributes,
)
from training.data import FEATURES_FILE, OUTCOMES_FILE
from training.run import ORIGIN_FEATURES, ORIGIN_TABLE, card_context, data_origin, run_tags
from training.spec import ModelSpec


def _spec(**fields: object) -> ModelSpec:
    base: dict[str, object] = {"name": "toy", "description": "toy", "intended_use": "tests", "target": "cad_10y",
                               "horizon_years": 10, "features": ["age_years", "sex_male", "cad_prs_sum"],
                               "subgroups": ["sex_male", "ancestry", "age_band"]}
    return ModelSpec.model_validate({**base, **fields})


def test_sensitive_words_are_matched_whole() -> None:
    assert is_sensitive("sex_male") and is_sensitive("Self-reported race") and is_sensitive("ETHNICITY")
    assert not is_sensitive("essex_site") and not is_sensitive("ldl_mg_dl") and not is_sensitive("racecourse")


def test_the_card_names_sensitive_features_apart_from_subgroup_only_columns() -> None:
    found = sensitive_attributes(_spec())
    assert found == {"features": ["sex_male"], "subgroups_only": ["ancestry"], "genetic_proxies": ["cad_prs_sum"]}
    rows = [{"group": "sex_male", "level": "0"}, {"group": "age_band", "level": "<45"}]  # as reported
    assert sensitive_attributes(_spec(), rows)["subgroups_only"] == []


def _write(path: Path) -> Path:
    pd.DataFrame({"patient_key": ["a", "b"], "x": [1.0, 2.0]}).to_parquet(path)
    return path


def test_a_users_table_is_never_called_built_by_pmed(tmp_path: Path) -> None:
    table = _write(tmp_path / "cohort.parquet")
    folder = [_write(tmp_path / FEATURES_FILE), _write(tmp_path / OUTCOMES_FILE)]
    assert data_origin([table]) == ORIGIN_TABLE and data_origin(folder) == ORIGIN_FEATURES
    own = card_context(run_tags(_spec(), [table]), {})
    pmed = card_context(run_tags(_spec(), folder), {"test": {"oracle": {}}})
    assert "user's own table `cohort.parquet`" in own["data_origin"] and "built by pmed" not in own["data_origin"]
    assert "built by pmed from raw files" in pmed["data_origin"] and "simulated" in pmed["data_origin"]
    assert own["data source"] == "cohort.parquet" and len(own["fingerprint"]) == 64
    assert own["fingerprint"] != pmed["fingerprint"]


def test_the_provenance_section_states_rows_left_out_and_sensitive_attributes(tmp_path: Path) -> None:
    spec = _spec()
    facts = provenance_facts(spec, rows_read=120, rows_used=100, quarantined={"ldl_mg_dl out of range": 5})
    assert facts["rows_not_used"] == 15 and "not at risk" in facts["not_used_reason"]
    context = card_context(run_tags(spec, [_write(tmp_path / "cohort.parquet")]), {})
    text = render_markdown("toy", [provenance_section(spec, context, facts)])
    assert "| Rows not used | 15 (`cad_10y` empty: not at risk at the index date) |" in text
    assert "ldl_mg_dl out of range: 5" in text and "cohort.parquet" in text
    assert "| Sensitive attributes used as features | sex_male |" in text
    assert "| Sensitive attributes used only for subgroup reports | ancestry |" in text
    assert "ancestry can enter the model through them" in text  # the PRS: never 'only through the baselines'
    unknown = render_markdown("toy", [provenance_section(spec, context, None)])
    assert "not recorded by this task" in unknown


def test_the_risk_card_no_longer_claims_race_enters_only_through_the_baselines() -> None:
    source = (Path(__file__).parents[2] / "training" / "card.py").read_text()
    assert "enters only through the" not in source


def test_the_survival_subgroup_section_says_small_groups_have_no_metrics() -> None:
    from training.card import survival_subgroup_section

    rows = [{"group": "sex", "level": "F", "n": 40, "events": 12, "events_by_horizon": 9, "c_index": 0.7,
             "c_index_ci_low": 0.6, "c_index_ci_high": 0.8, "observed_expected_at_horizon": 1.1,
             "observed_expected_at_horizon_ci_low": 0.9, "observed_expected_at_horizon_ci_high": 1.3},
            {"group": "sex", "level": "M", "n": 9, "events": 3, "events_by_horizon": 2}]
    text = render_markdown("toy", [survival_subgroup_section(rows)])
    assert "| sex | F | 40 | 12 | 9 | 0.700 (0.600-0.800) | 1.100 (0.900-1.300) |" in text
    assert "| sex | M | 9 | 3 | 2 | too few events | - |" in text


def test_level_encodings_and_overrides_are_stated() -> None:
    spec = ModelSpec.model_validate({
        "name": "toy", "description": "d", "intended_use": "u", "target": "y", "horizon_years": 1,
        "features": ["age_years", "smoker", "stage"], "overrides": {"age_years": {"min": 18, "max": 110}},
        "declared_features": [
            {"name": "smoker", "display_name": "Smoker", "unit": "", "kind": "binary", "min": 0, "max": 1,
             "codes": ["no", "yes"]},
            {"name": "stage", "display_name": "Stage", "unit": "", "kind": "categorical",
             "levels": ["I", "II", "III"]}]})
    facts = provenance_facts(spec, 10, 8)
    assert facts["encodings"] == {"smoker": "no = 0, yes = 1", "stage": "I = 0, II = 1, III = 2"}
    assert facts["overrides"] == {"age_years": {"min": 18.0, "max": 110.0}}
    text = render_markdown("toy", [provenance_section(spec, {"data source": "t.csv"}, facts)])
    assert "smoker: no = 0, yes = 1; stage: I = 0, II = 1, III = 2" in text and "age_years: {'min': 18.0" in text
