"""FHIR R4 input: the same cohort as CSV and as FHIR gives identical tables; every resource is accounted for."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from features.ehr.build import read_ehr_fhir
from features.ehr.fhir import read_fhir
from features.quarantine import Quarantine
from features.sim.fhir_files import write_fhir
from features.simulate import simulate_cohort
from features.table import build_feature_table

OUTPUTS = ("features.parquet", "outcomes.parquet", "lab_trends.parquet")


@pytest.fixture(scope="module")
def small_cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    raw = tmp_path_factory.mktemp("fhir_raw")
    simulate_cohort(raw, 400, 23, fhir="ndjson")
    write_fhir(raw, raw / "fhir_bundles", "bundle")
    return raw


@pytest.mark.parametrize("fhir_dir", ["fhir", "fhir_bundles"])
def test_csv_and_fhir_give_identical_tables(small_cohort: Path, tmp_path: Path, fhir_dir: str) -> None:
    links = tmp_path / "links.csv"
    csv = build_feature_table(small_cohort, tmp_path / "csv", links, tmp_path / "q_csv.csv")
    fhir = build_feature_table(small_cohort, tmp_path / "fhir", links, tmp_path / "q_fhir.csv",
                               fhir=small_cohort / fhir_dir)
    for name in OUTPUTS:
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "csv" / name),
                                      pd.read_parquet(tmp_path / "fhir" / name))
    # the same bad records are caught: as many quarantined either way, and every source balances
    assert sum(s.rows_quarantined for s in csv.sources) == sum(s.rows_quarantined for s in fhir.sources) > 0
    for source in fhir.sources:
        assert source.rows_in == source.rows_used + source.rows_ignored + source.rows_quarantined


def test_quarantine_names_file_line_and_element(small_cohort: Path) -> None:
    quarantine = Quarantine()
    read_ehr_fhir(small_cohort / "fhir", quarantine)
    found = quarantine.frame()
    lines = (small_cohort / "fhir" / "Observation.ndjson").read_text().splitlines()
    unit = found[found["rule"].str.startswith("unit 'mg'")]
    assert len(unit) > 0 and set(unit["field"]) <= {"Observation.valueQuantity.code",
                                                    "Observation.component[0].valueQuantity.code"}
    for row in unit["row"]:
        assert '"code":"mg"' in lines[row - 1]  # row is the 1-based NDJSON line
    bad_date = found[found["field"] == "Observation.effectiveDateTime"]
    assert len(bad_date) > 0 and bad_date["rule"].str.startswith("fails FHIR R4 validation").all()
    assert "MRN" not in found.to_csv(index=False)


def _bundle(path: Path, entries: list[dict]) -> Path:
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    return path


PATIENT = {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1955-03-04",
           "extension": [{"url": "urn:pmed:index-date", "valueDate": "2016-01-01"},
                         {"url": "urn:pmed:ancestry", "valueCode": "EUR"},
                         {"url": "urn:pmed:site", "valueString": "s1"}]}


def test_r4_codings_references_and_statuses(tmp_path: Path) -> None:
    """SNOMED CT and ATC codings, urn:uuid references, partial dates and entered-in-error, as a site sends them."""
    subject = {"reference": "urn:uuid:abc"}
    entries = [
        {"fullUrl": "urn:uuid:abc", "resource": PATIENT},
        {"resource": {"resourceType": "Condition", "subject": subject, "onsetDateTime": "2010-05-01T08:00:00Z",
                      "code": {"coding": [{"system": "http://snomed.info/sct", "code": "999999999"},
                                          {"system": "http://snomed.info/sct", "code": "44054006"}]}}},
        {"resource": {"resourceType": "MedicationStatement", "status": "active", "subject": subject,
                      "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc",
                                                                "code": "C10AA05"}]},
                      "effectivePeriod": {"start": "2015-01-01"}}},
        {"resource": {"resourceType": "Observation", "status": "entered-in-error", "subject": subject,
                      "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
                      "effectiveDateTime": "2015-06-01", "valueQuantity": {"value": 9.9, "unit": "%"}}},
        {"resource": {"resourceType": "Observation", "status": "final", "subject": subject,
                      "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
                      "effectiveDateTime": "2015-06", "valueQuantity": {"value": 7.0, "unit": "%"}}},
        {"resource": {"resourceType": "Observation", "status": "final", "subject": subject,
                      "code": {"coding": [{"system": "http://loinc.org", "code": "4548-4"}]},
                      "effectiveDateTime": "2015-07-01T10:00:00+02:00",
                      "valueQuantity": {"value": 53, "unit": "mmol/mol", "system": "http://unitsofmeasure.org",
                                        "code": "mmol/mol"}}},
        {"resource": {"resourceType": "Encounter", "status": "finished"}},
    ]
    quarantine = Quarantine()
    ehr = read_ehr_fhir(_bundle(tmp_path / "b.json", entries), quarantine)
    assert ehr.conditions.loc["p1", "t2d_dx"] == 1.0 and ehr.medications.loc["p1", "statin_rx"] == 1.0
    assert ehr.labs.loc["p1", "hba1c_pct"] == pytest.approx(0.09148 * 53 + 2.152)
    assert ehr.labs.loc["p1", "hba1c_pct_count"] == 1  # the partial date is quarantined, the retracted one ignored
    assert quarantine.frame().to_dict("records") == [
        {"source_file": "b.json", "row": 4, "field": "Observation.effective[x]",
         "rule": "not a valid YYYY-MM-DD date"}]
    counts = {s.source_file: s for s in ehr.sources}
    assert counts["FHIR resources"].ignored == {"resource type not read by pmed": 1,
                                                "Observation.status does not describe the patient": 1}


RESOURCE_TYPES = ["Patient", "Observation", "Condition", "MedicationRequest", "MedicationStatement", "Encounter", ""]
values = st.one_of(st.none(), st.integers(-5, 500), st.floats(allow_nan=False, allow_infinity=False),
                   st.sampled_from(["", "n/a", "2015-02-30", "2015-06-01", "2015", "mg/dL", "mmol/L", "kPa",
                                    "Patient/p1", "Patient/zz", "male", "final", "18262-6", "4548-4", "I10"]))


def _resource(draw: st.DrawFn) -> object:
    """A resource as a site might send it: shaped right, wrong values, missing fields, or not a resource."""
    kind = draw(st.sampled_from(["good_obs", "mutated", "junk"]))
    if kind == "junk":
        return draw(st.one_of(st.text(max_size=5), st.lists(st.integers(), max_size=2), st.just({})))
    resource = {"resourceType": draw(st.sampled_from(RESOURCE_TYPES)), "status": "final",
                "subject": {"reference": draw(st.sampled_from(["Patient/p1", "Patient/zz", "Practitioner/1"]))},
                "code": {"coding": [{"system": "http://loinc.org",
                                     "code": draw(st.sampled_from(["18262-6", "4548-4"]))}]},
                "effectiveDateTime": draw(st.sampled_from(["2015-06-01", "2017-01-01", "2015-02-30", "2015"])),
                "valueQuantity": {"value": draw(st.floats(1, 300)),
                                  "unit": draw(st.sampled_from(["mg/dL", "%", "kPa"]))}}
    if kind == "mutated":
        for key in draw(st.lists(st.sampled_from(["status", "subject", "code", "effectiveDateTime", "valueQuantity",
                                                  "onsetDateTime", "gender", "birthDate", "id"]), max_size=3)):
            resource[key] = draw(values)
    return resource


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), as_bundle=st.booleans(), broken_lines=st.integers(0, 2))
def test_every_fhir_record_is_used_ignored_or_quarantined(tmp_path: Path, data: st.DataObject, as_bundle: bool,
                                                          broken_lines: int) -> None:
    resources = [PATIENT, PATIENT, *data.draw(st.lists(st.composite(_resource)(), max_size=12))]
    if as_bundle:
        path = _bundle(tmp_path / "in.json", [{"resource": r} for r in resources])
    else:
        path = tmp_path / "in.ndjson"
        path.write_text("\n".join([json.dumps(r) for r in resources] + ["{not json"] * broken_lines) + "\n")
    quarantine = Quarantine()
    fhir = read_fhir(path, quarantine)
    assert fhir.counts.rows_in == len(resources) + (0 if as_bundle else broken_lines)
    everything = Quarantine()
    ehr = read_ehr_fhir(path, everything)
    for source in ehr.sources:
        assert source.rows_in == source.rows_used + source.rows_ignored + source.rows_quarantined
    assert len(everything.frame()) == sum(s.rows_quarantined for s in ehr.sources)
    assert ehr.sources[1].rows_quarantined >= 1  # the duplicate Patient
    assert list(ehr.patients.index) == ["p1"]
    resource_level = quarantine.frame()
    assert len(resource_level) == fhir.counts.rows_quarantined
    assert set(resource_level.columns) == {"source_file", "row", "field", "rule"}
