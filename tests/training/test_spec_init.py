"""`pmed spec init`: a starting spec read from a table's values, that passes `pmed spec check` once its TODOs are
filled, and never overwrites a spec unless told to."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from pmed.cli import app
from training.column_kinds import infer_column, widen
from training.errors import DataError
from training.spec import load_spec
from training.spec_init import PLACEHOLDER, spec_name, starting_spec, suggest_horizon


def fill_placeholders(text: str, horizon_days: int | None = None) -> str:
    """What a user does by hand: write the description and intended use, a unit on each number, the horizon."""
    text = re.sub(r"^(description|intended_use): .*$", r"\1: Filled in by the test.", text, flags=re.MULTILINE)
    text = re.sub(r"unit: ''(, kind: (continuous|count))", r"unit: units\1", text)
    if horizon_days is not None:
        text = re.sub(r"horizon_days: \d+", f"horizon_days: {horizon_days}", text)
    return text


def cohort(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "record_id": [f"R{i:04d}" for i in range(n)],
        "age_years": rng.integers(30, 90, n),  # a registry feature
        "stage": rng.choice(["I", "II", "III", "IV"], n),
        "smoker": rng.choice(["no", "yes"], n),
        "arm": rng.choice([1, 2], n),
        "flag": rng.integers(0, 2, n),
        "ecog": rng.integers(0, 4, n),
        "karnofsky": rng.choice([50, 60, 70, 80, 90, 100], n),
        "crp_mg_l": np.round(rng.lognormal(1.5, 1.0, n), 1),
        "admission_date": pd.date_range("2020-01-01", periods=n, freq="D").strftime("%Y-%m-%d"),
        "site": rng.choice(["north", "south"], n),
        "notes": [f"free text {i}" for i in range(n)],
        "constant": 7,
        "days": rng.integers(5, 900, n),
        "died": rng.integers(0, 2, n),
    })


def test_kinds_levels_codes_and_ranges_are_read_from_the_values() -> None:
    frame = cohort()
    by_name = {c: infer_column(c, frame[c]) for c in frame.columns if c != "age_years"}
    assert by_name["stage"].entry == {"name": "stage", "display_name": "Stage", "unit": "", "kind": "categorical",
                                      "levels": ["I", "II", "III", "IV"]}
    assert by_name["smoker"].entry is not None and by_name["smoker"].entry["codes"] == ["no", "yes"]
    assert by_name["arm"].entry is not None and by_name["arm"].entry["codes"] == [1, 2]
    assert by_name["flag"].entry is not None and by_name["flag"].entry["codes"] == [0, 1]
    assert by_name["ecog"].entry is not None and by_name["ecog"].entry["levels"] == [0, 1, 2, 3]  # codes 0..3
    karnofsky = by_name["karnofsky"].entry  # a scale with gaps is a number, not codes
    assert karnofsky is not None and karnofsky["kind"] == "continuous"
    assert (karnofsky["min"], karnofsky["max"]) == (45, 105)
    crp = by_name["crp_mg_l"].entry
    assert crp is not None and crp["kind"] == "continuous" and crp["min"] <= frame["crp_mg_l"].min()
    assert crp["max"] >= frame["crp_mg_l"].max() and crp["unit"] == ""
    for left_out, why in (("admission_date", "dates"), ("site", "site code"), ("notes", "free text"),
                          ("constant", "single value"), ("record_id", "identifier")):
        assert by_name[left_out].entry is None and why in by_name[left_out].reason, left_out


def test_an_empty_column_and_a_written_row_index_are_left_out() -> None:
    assert "empty" in infer_column("x", pd.Series([np.nan] * 30)).reason
    assert "row index" in infer_column("Unnamed: 0", pd.Series(range(30))).reason


@settings(max_examples=60)
@given(low=st.floats(-1e5, 1e5), span=st.floats(0, 1e5), whole=st.booleans())
def test_the_widened_range_holds_the_observed_one(low: float, span: float, whole: bool) -> None:
    high = low + span
    if whole:
        low, high = float(np.floor(low)), float(np.ceil(high))
    lo, hi = widen(low, high, whole)
    assert lo <= low and hi >= high and lo < hi
    assert low < 0 or lo >= 0  # never below 0 for a column without negatives
    if whole:
        assert float(lo).is_integer() and float(hi).is_integer()
    observed = high - low  # widened by at most two paddings (a tenth of the span, rounded outward) a side
    pad = max(observed / 10 if observed > 0 else max(abs(low) / 10, 1.0), 1e-6)
    assert hi - lo <= observed + 4 * max(pad, 1.0 if whole else 0.0) + 1e-9


def test_the_horizon_suggested_is_a_quoted_one_near_the_median_follow_up() -> None:
    time = np.arange(1, 401, dtype=float)  # median 200 days
    horizon, why = suggest_horizon(time, np.ones_like(time))
    assert horizon == 180 and "median follow-up 200 days" in why


def test_the_spec_names_id_registry_features_and_what_was_left_out(tmp_path: Path) -> None:
    frame = cohort()
    spec = starting_spec(tmp_path / "My Cohort-2024.csv", frame, time="days", event="died")
    raw = yaml.safe_load(spec.text)
    assert spec.name == raw["name"] == "my_cohort_2024" and raw["task"] == "survival"
    assert raw["id_column"] == "record_id" and raw["target"] == "died"
    assert raw["survival"]["time_column"] == "days" and raw["survival"]["horizon_days"] in (365, 730)
    assert "age_years" in raw["features"] and "age_years" not in {f["name"] for f in raw["declared_features"]}
    assert not {"days", "died", "record_id", "site", "notes"} & set(raw["features"])
    assert "#   site: looks like a site code" in spec.text and raw["subgroups"] == []
    assert raw["description"].startswith(PLACEHOLDER)


def test_without_an_id_column_the_spec_says_what_to_do(tmp_path: Path) -> None:
    spec = starting_spec(tmp_path / "t.csv", cohort().drop(columns=["record_id"]), target="died")
    assert yaml.safe_load(spec.text)["id_column"] == "patient_id" and "add one" in spec.text
    assert any("no unique id column" in note for note in spec.notes)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"time": "days", "event": "arm"}, "column arm: the event column must be 1 = event, 0 = censored"),
    ({"target": "arm"}, "column arm: the target column must be 1 = outcome"),
    ({"time": "stage", "event": "died"}, "column stage: follow-up must be a number of days > 0"),
    ({"target": "died", "time": "days", "event": "died"}, "give --target COL"),
    ({"time": "days"}, "give --target COL"),
    ({"target": "nope"}, "column nope (--target) is not in the table"),
])
def test_outcome_columns_that_cannot_serve_are_refused_by_name(tmp_path: Path, kwargs: dict[str, Any],
                                                              message: str) -> None:
    with pytest.raises(DataError, match=re.escape(message)):
        starting_spec(tmp_path / "t.csv", cohort(), **kwargs)


def test_pmed_spec_init_writes_a_spec_that_checks_once_filled_and_never_overwrites(tmp_path: Path) -> None:
    table, out = tmp_path / "cohort.csv", tmp_path / "specs" / "cohort.yaml"
    cohort().to_csv(table, index=False)
    runner = CliRunner()
    printed = runner.invoke(app, ["spec", "init", "--table", str(table), "--target", "died"])
    assert printed.exit_code == 0, printed.output
    assert yaml.safe_load(printed.stdout)["task"] == "risk_classification"
    written = runner.invoke(app, ["spec", "init", "--table", str(table), "--time", "days", "--event", "died",
                                  "--out", str(out)])
    assert written.exit_code == 0 and f"wrote {out}" in written.output
    again = runner.invoke(app, ["spec", "init", "--table", str(table), "--target", "died", "--out", str(out)])
    assert again.exit_code == 1 and "exists" in again.output and yaml.safe_load(out.read_text())["task"] == "survival"
    forced = runner.invoke(app, ["spec", "init", "--table", str(table), "--target", "died", "--out", str(out),
                                 "--force"])
    assert forced.exit_code == 0 and yaml.safe_load(out.read_text())["task"] == "risk_classification"
    out.write_text(fill_placeholders(out.read_text()).replace("horizon_years: 1.0", "horizon_years: 2.0"))
    checked = runner.invoke(app, ["spec", "check", str(out)])
    assert checked.exit_code == 0 and f"OK {out}" in checked.output, checked.output


VALUES = st.one_of(st.sampled_from(["yes", "no", "null", "on", "a: b", "#x", "x'y", "Ü", "1.5", " pad "]),
                   st.integers(-5, 5), st.floats(-1e3, 1e3, allow_nan=False).map(lambda v: round(v, 2)))


@settings(max_examples=25, deadline=None)
@given(columns=st.lists(st.lists(VALUES, min_size=40, max_size=40), min_size=1, max_size=4))
def test_any_table_gives_yaml_that_checks_once_filled(columns: list[list[Any]]) -> None:
    """Whatever the values (text YAML would misread, numbers, a mix), the spec parses and, filled in, validates."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"c{i}": values for i, values in enumerate(columns)})
    frame.insert(0, "patient_id", [f"P{i}" for i in range(40)])
    frame["time"], frame["event"] = rng.integers(1, 400, 40), rng.integers(0, 2, 40)
    with tempfile.TemporaryDirectory() as folder:
        table = Path(folder) / "t.csv"
        frame.to_csv(table, index=False)
        spec = starting_spec(table, pd.read_csv(table), time="time", event="event")
        if not yaml.safe_load(spec.text)["features"]:
            return  # every column left out (the notes say why): there is no spec to check
        path = Path(folder) / "t.yaml"
        path.write_text(fill_placeholders(spec.text))
        load_spec(path)


def test_the_name_comes_from_the_file_name() -> None:
    assert spec_name(Path("2024 HF cohort.parquet")) == "cohort_2024_hf_cohort"
    assert spec_name(Path("x.csv")) == "x_cohort"
    assert re.fullmatch(r"^[a-z][a-z0-9_]{1,63}$", spec_name(Path("a" * 100 + ".csv")))


def test_a_registry_feature_beyond_pmeds_range_gets_an_override(tmp_path: Path) -> None:
    frame = cohort().assign(age_years=lambda f: f["age_years"].where(f.index > 1, 16))  # two teenagers
    spec = starting_spec(tmp_path / "t.csv", frame, target="died")
    raw = yaml.safe_load(spec.text)
    assert raw["overrides"] == {"age_years": {"min": 7, "max": 100}}  # 16-100 widened by 8.4, rounded out
    assert "2 row(s) outside pmed's range 18-100 years" in spec.text
    path = tmp_path / "t.yaml"
    path.write_text(fill_placeholders(spec.text))
    assert load_spec(path).overrides["age_years"].min == 7
