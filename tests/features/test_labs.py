"""Labs: UCUM unit conversion, look-back, temporal summaries, no leakage after the index date, conservation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.ehr.labs import read_labs
from features.ehr.patients import read_patients
from features.quarantine import Quarantine, SourceCounts

PATIENTS = ("patient_id,birth_date,sex,index_date,ancestry,site\n"
            "A,1960-05-01,M,2015-06-30,EUR,s1\nB,1950-01-01,F,2014-01-15,AFR,s2\n")
BASE_LABS = [
    ("A", "18262-6", "150", "mg/dL", "2015-01-10"),
    ("A", "18262-6", "3.1", "mmol/L", "2015-06-30"),  # most recent, on the index date, in mmol/L
    ("A", "4548-4", "48", "mmol/mol", "2014-02-01"),
    ("B", "2085-9", "55", "mg/dL", "2010-01-01"),  # older than the 3-year look-back
    ("B", "8480-6", "138", "mm[Hg]", "2013-12-01"),
]


def _write(folder: Path, labs: list[tuple[str, ...]]) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "patients.csv").write_text(PATIENTS)
    frame = pd.DataFrame(labs, columns=["patient_id", "loinc", "value", "unit", "effective_date"])
    frame.to_csv(folder / "labs.csv", index=False)
    return folder / "patients.csv", folder / "labs.csv"


def _read(folder: Path, labs: list[tuple[str, ...]]) -> tuple[pd.DataFrame, SourceCounts, pd.DataFrame]:
    patients_path, labs_path = _write(folder, labs)
    quarantine = Quarantine()
    patients, _ = read_patients(patients_path, quarantine)
    wide, counts = read_labs(labs_path, patients, quarantine)
    return wide, counts, quarantine.frame()


def test_most_recent_value_in_window_with_unit_conversion(tmp_path: Path) -> None:
    wide, counts, quarantine = _read(tmp_path, BASE_LABS)
    assert quarantine.empty
    assert wide.loc["A", "ldl_mg_dl"] == np.float64(3.1) * 38.665  # cholesterol 386.65 g/mol
    assert round(wide.loc["A", "hba1c_pct"], 3) == round(48 * 0.09148 + 2.152, 3)
    assert np.isnan(wide.loc["B", "hdl_mg_dl"]) and wide.loc["B", "hdl_mg_dl_count"] == 0
    assert wide.loc["B", "sbp_mm_hg"] == 138
    assert wide.loc["A", "ldl_mg_dl_count"] == 2
    assert wide.loc["A", "ldl_mg_dl_mean"] == pytest.approx((150 + 3.1 * 38.665) / 2)
    assert counts.ignored == {"before the look-back window": 1}


def test_unknown_unit_is_quarantined_not_guessed(tmp_path: Path) -> None:
    wide, counts, quarantine = _read(tmp_path, [*BASE_LABS, ("B", "8480-6", "12", "kPa", "2013-12-02")])
    assert wide.loc["B", "sbp_mm_hg"] == 138
    assert quarantine.to_dict("records") == [{"source_file": "labs.csv", "row": 7, "field": "unit",
                                               "rule": "unit 'kPa' not recognised for LOINC 8480-6"}]
    assert counts.rows_quarantined == 1 and counts.rows_used == 4  # as without the bad row


later_rows = st.lists(st.tuples(
    st.sampled_from(["A", "B"]), st.sampled_from(["18262-6", "2085-9", "4548-4", "8480-6", "39156-5"]),
    st.floats(1, 300).map(lambda v: f"{v:.1f}"), st.integers(1, 4000)), max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(later=later_rows)
def test_values_after_the_index_date_never_change_features(tmp_path: Path, later: list) -> None:
    index = {"A": pd.Timestamp("2015-06-30"), "B": pd.Timestamp("2014-01-15")}
    extra = [(p, loinc, value, {"4548-4": "%", "8480-6": "mm[Hg]", "39156-5": "kg/m2"}.get(loinc, "mg/dL"),
              (index[p] + pd.Timedelta(days=days)).strftime("%Y-%m-%d")) for p, loinc, value, days in later]
    baseline, _, _ = _read(tmp_path / "base", BASE_LABS)
    with_future, counts, _ = _read(tmp_path / "future", BASE_LABS + extra)
    pd.testing.assert_frame_equal(baseline, with_future)
    # every added row is set aside as future (or quarantined when implausible, e.g. HbA1c 250 %)
    assert counts.ignored["after the index date"] + counts.rows_quarantined == len(extra)


junk = st.one_of(st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=8),
                 # a CR/LF would split the row; a lone surrogate cannot be written as UTF-8
                 st.sampled_from(["", "n/a", "2015-02-30", "1e999", "-5", "MRN1"]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.sampled_from(["A", "B", "C", ""]), st.sampled_from(["18262-6", "2085-9", "1234-5"]),
                               junk, st.sampled_from(["mg/dL", "mmol/L", "mg", ""]), junk), max_size=30))
def test_every_lab_row_is_used_ignored_or_quarantined(tmp_path: Path, rows: list) -> None:
    _, counts, quarantine = _read(tmp_path, BASE_LABS + rows)
    assert counts.rows_in == len(BASE_LABS) + len(rows)
    assert counts.rows_in == counts.rows_used + counts.rows_ignored + counts.rows_quarantined
    assert len(quarantine) == counts.rows_quarantined
    assert quarantine["row"].is_unique
