"""The feature table: registry columns, no identifiers, conservation, quarantine, pseudonyms, outcomes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from sksurv.nonparametric import kaplan_meier_estimator

from features.registry import FEATURES
from features.simulate import SimulationSummary
from features.table import BuildReport, build_feature_table


def test_columns_are_the_registry_in_order(built: tuple[Path, BuildReport]) -> None:
    features = pd.read_parquet(built[0] / "features" / "features.parquet")
    assert list(features.columns) == ["patient_key", "index_date", *[f.name for f in FEATURES]]
    assert features["patient_key"].is_unique


def test_values_respect_registry_ranges(built: tuple[Path, BuildReport]) -> None:
    features = pd.read_parquet(built[0] / "features" / "features.parquet")
    for f in FEATURES:
        values = features[f.name].dropna()
        assert values.between(f.min, f.max).all(), f.name
        assert features[f.name].notna().mean() > 0.8, f.name


def test_no_identifier_reaches_the_tables(cohort: tuple[Path, SimulationSummary],
                                          built: tuple[Path, BuildReport]) -> None:
    ids = set(pd.read_csv(cohort[0] / "patients.csv", dtype=str)["patient_id"])
    for name in ("features.parquet", "outcomes.parquet"):
        table = pd.read_parquet(built[0] / "features" / name)
        assert "patient_id" not in table.columns and "birth_date" not in table.columns
        cells = set(table.astype(str).to_numpy().ravel())
        assert not cells & ids, name


def test_every_record_is_used_ignored_or_quarantined(built: tuple[Path, BuildReport]) -> None:
    report = built[1]
    for source in report.sources:
        assert source.rows_in == source.rows_used + source.rows_ignored + source.rows_quarantined
    quarantine = pd.read_csv(report.quarantine_path)
    assert len(quarantine) == sum(s.rows_quarantined for s in report.sources) > 0
    assert list(quarantine.columns) == ["source_file", "row", "field", "rule"]
    assert quarantine["rule"].str.len().gt(5).all()


def test_quarantine_points_at_the_bad_line_without_copying_it(cohort: tuple[Path, SimulationSummary],
                                                             built: tuple[Path, BuildReport]) -> None:
    quarantine = pd.read_csv(built[1].quarantine_path)
    labs = (cohort[0] / "labs.csv").read_text().splitlines()
    bad_value = quarantine[quarantine["rule"] == "value is not a number"]
    assert len(bad_value) > 0
    for row in bad_value["row"]:
        assert labs[row - 1].split(",")[2] == "n/a"  # row is the 1-based line number in the file
    text = built[1].quarantine_path.read_text()
    assert "MRN" not in text and "n/a" not in text


def test_pseudonyms_are_stable_across_builds(cohort: tuple[Path, SimulationSummary],
                                             built: tuple[Path, BuildReport], tmp_path: Path) -> None:
    out = built[0]
    build_feature_table(cohort[0], tmp_path / "again", out / "links.csv", tmp_path / "q.csv")
    first = pd.read_parquet(out / "features" / "features.parquet")
    second = pd.read_parquet(tmp_path / "again" / "features.parquet")
    pd.testing.assert_frame_equal(first, second)
    other = build_feature_table(cohort[0], tmp_path / "fresh", tmp_path / "other-links.csv", tmp_path / "q2.csv")
    fresh = pd.read_parquet(other.outputs[0])
    assert not set(fresh["patient_key"]) & set(first["patient_key"])  # random, not derived from the id


def test_outcome_labels_match_the_simulated_events(built: tuple[Path, BuildReport]) -> None:
    outcomes = pd.read_parquet(built[0] / "features" / "outcomes.parquet")
    features = pd.read_parquet(built[0] / "features" / "features.parquet")
    at_risk = outcomes["t2d_event"].notna()
    assert (features.loc[~at_risk.to_numpy(), "t2d_dx"] == 1).all()  # prevalent T2D: not at risk
    assert outcomes["cad_event"].notna().all() and outcomes["cad_time_days"].notna().all()  # primary prevention
    for prefix, name, horizon in (("cad", "cad_10y", 3652), ("t2d", "t2d_5y", 1826)):
        rows = outcomes[outcomes[f"{prefix}_event"].notna()]
        time, event = rows[f"{prefix}_time_days"].to_numpy(), rows[f"{prefix}_event"].astype(int).to_numpy()
        assert (time > 0).all() and time.max() <= horizon + 1  # follow-up is capped at the outcome's horizon
        # censoring kept: Kaplan-Meier recovers the mean true risk (3,000 patients: SE about 0.006)
        times, survival = kaplan_meier_estimator(event.astype(bool), time)
        assert abs(1 - survival[times <= horizon][-1] - rows[f"true_risk_{name}"].mean()) < 0.03, name
        # the binary label is NA exactly for those censored before the horizon without an event
        index = features.set_index("patient_key").loc[rows["patient_key"], "index_date"]
        window = ((index + pd.DateOffset(years=horizon // 365)) - index).dt.days.to_numpy()  # 3652 or 3653 days
        censored = (event == 0) & (time < window)
        assert (rows[name].isna().to_numpy() == censored).all(), name
        assert (rows[name].dropna().astype(int).to_numpy() == event[~censored]).all(), name
    cad = outcomes["cad_10y"].dropna().astype(int)
    assert 0.3 <= outcomes["cad_10y"].isna().mean() <= 0.47  # censored before 10 years: dropped by a binary label
    assert cad.mean() > outcomes.loc[cad.index, "true_risk_cad_10y"].mean() + 0.03  # ... which biases it upwards
    assert set(outcomes["age_band"]) <= {"<45", "45-54", "55-64", "65-74", "75+"}


def test_follow_up_file_is_checked_and_optional(cohort: tuple[Path, SimulationSummary], tmp_path: Path) -> None:
    """Bad follow-up rows are quarantined with their line (the patient's follow-up is then unknown: NA); without
    the file, follow-up is taken as complete to each horizon (every CAD label known)."""
    raw = tmp_path / "raw"
    shutil.copytree(cohort[0], raw)
    follow = pd.read_csv(raw / "follow_up.csv", dtype=str)
    follow.loc[4, "last_contact_date"] = "2019-02-30"
    follow.loc[7, "last_contact_date"] = "2000-01-01"  # before the index date
    follow.to_csv(raw / "follow_up.csv", index=False)
    report = build_feature_table(raw, tmp_path / "f", tmp_path / "links.csv", tmp_path / "q.csv")
    quarantined = pd.read_csv(tmp_path / "q.csv")
    rows = quarantined[quarantined["source_file"] == "follow_up.csv"]
    assert sorted(rows["row"]) == [6, 9] and set(rows["field"]) == {"last_contact_date"}
    assert not rows.astype(str).apply(lambda c: c.str.contains("MRN|2000-01-01")).any().any()
    counts = next(s for s in report.sources if s.source_file == "follow_up.csv")
    assert (counts.rows_in, counts.rows_used, counts.rows_quarantined) == (3000, 2998, 2)
    outcomes = pd.read_parquet(tmp_path / "f" / "outcomes.parquet")
    assert outcomes["cad_time_days"].isna().sum() == 2 and outcomes["cad_event"].isna().sum() == 2
    (raw / "follow_up.csv").unlink()
    build_feature_table(raw, tmp_path / "g", tmp_path / "links.csv", tmp_path / "q2.csv")
    complete = pd.read_parquet(tmp_path / "g" / "outcomes.parquet")
    assert complete["cad_10y"].notna().all() and complete["cad_time_days"].max() <= 3653


FAULT_PLACES = {  # injected fault -> (file, field) where the quarantine must report it
    "lab value not a number": ("labs.csv", "value"), "lab value out of range": ("labs.csv", "value"),
    "lab unit unknown": ("labs.csv", "unit"), "lab date impossible": ("labs.csv", "effective_date"),
    "lab for unknown patient": ("labs.csv", "patient_id"), "diagnosis date impossible": ("diagnoses.csv", "onset_date"),
    "smoking status invalid": ("lifestyle.csv", "smoking_status"),
}


def test_every_injected_fault_and_nothing_else_is_quarantined(cohort: tuple[Path, SimulationSummary],
                                                              built: tuple[Path, BuildReport]) -> None:
    injected = cohort[1].injected_faults
    assert set(injected) == set(FAULT_PLACES)
    expected: dict[tuple[str, str], int] = {}
    for fault, n in injected.items():
        expected[FAULT_PLACES[fault]] = expected.get(FAULT_PLACES[fault], 0) + n
    found = pd.read_csv(built[1].quarantine_path).groupby(["source_file", "field"]).size()
    assert found.to_dict() == expected


def test_outcomes_table_schema(built: tuple[Path, BuildReport]) -> None:
    outcomes = pd.read_parquet(built[0] / "features" / "outcomes.parquet")
    assert list(outcomes.columns[:7]) == ["patient_key", "cad_10y", "t2d_5y", "cad_time_days", "cad_event",
                                          "t2d_time_days", "t2d_event"]
    assert str(outcomes["cad_event"].dtype) == "Int8" and str(outcomes["cad_time_days"].dtype) == "float64"
    assert {"sex", "ancestry", "site", "age_band", "true_risk_cad_10y", "true_risk_t2d_5y"} <= set(outcomes.columns)
    assert str(outcomes["cad_10y"].dtype) == "Int8" and str(outcomes["t2d_5y"].dtype) == "Int8"
    assert not any("prs_sum" in c for c in outcomes.columns)  # truth.csv genotype sums stay out


def test_report_covers_every_source_including_the_vcf(built: tuple[Path, BuildReport]) -> None:
    report = built[1]
    assert [s.source_file for s in report.sources] == ["patients.csv", "labs.csv", "diagnoses.csv",
                                                        "medications.csv", "lifestyle.csv", "follow_up.csv",
                                                        "genotypes.vcf"]
    for pgs_id, n_variants in (("PGS_SIM_CAD", 40), ("PGS_SIM_T2D", 30)):
        assert report.prs[pgs_id] == {"matched": n_variants}  # every simulated score variant matches
    lines = report.summary_lines()
    assert any(line.startswith("labs.csv") for line in lines) and any("quarantined" in line for line in lines)
    assert not any("MRN" in line for line in lines)


def test_cli_simulate_with_fhir_builds_the_same_features_as_the_csv(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`pmed simulate --fhir` writes the same cohort as FHIR R4 too; a build from it equals the CSV build."""
    from typer.testing import CliRunner

    from pmed.cli import app

    monkeypatch.setenv("PMED_HOME", str(tmp_path / "home"))
    raw = tmp_path / "raw"
    runner = CliRunner()
    result = runner.invoke(app, ["simulate", "--out", str(raw), "--patients", "150", "--seed", "4", "--fhir", "ndjson"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (raw / "fhir").iterdir()) and "FHIR R4 (ndjson)" in result.output
    csv = build_feature_table(raw, tmp_path / "csv", tmp_path / "links.csv", tmp_path / "q1.csv")
    fhir = build_feature_table(raw, tmp_path / "fhir", tmp_path / "links.csv", tmp_path / "q2.csv", fhir=raw / "fhir")
    pd.testing.assert_frame_equal(pd.read_parquet(csv.outputs[0]), pd.read_parquet(fhir.outputs[0]))
    result = runner.invoke(app, ["simulate", "--out", str(tmp_path / "x"), "--fhir", "xml"])
    assert result.exit_code == 2 and not (tmp_path / "x").exists()
