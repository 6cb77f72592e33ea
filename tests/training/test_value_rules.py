"""One set of value rules (``kernel.values``): training's table reader and serving's request model accept and refuse
the same values, a categorical's levels and a binary's declared codes are taken as written, ranges can be
overridden per spec, and ``on_invalid: quarantine`` conserves rows (rows in = used + quarantined)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from kernel.artifact import ArtifactFeature
from kernel.values import ValueRuleError, as_written, code_text, encode, encode_column
from serving.validation import features_model
from training.data import DataError, describe_features, load_table
from training.spec import ModelSpec, feature_definitions

CELLTYPE = {"name": "celltype", "display_name": "Cell type", "kind": "categorical",
            "levels": ["squamous", "smallcell", "adeno", "large"]}
TREATMENT = {"name": "treatment", "display_name": "Test chemotherapy", "kind": "binary", "codes": ["standard", "test"]}
STAGE = {"name": "stage", "display_name": "Stage", "kind": "categorical", "levels": [1, 2, 3, 4]}
SEX12 = {"name": "sex12", "display_name": "Sex (1 = male, 2 = female)", "kind": "binary", "codes": [1, 2]}
KARNO = {"name": "karno", "display_name": "Karnofsky score", "unit": "points", "kind": "continuous", "min": 10,
         "max": 100}
FLAG = {"name": "flag", "display_name": "Flag", "unit": "1 = yes, 0 = no", "kind": "binary"}
COUNT = {"name": "episodes", "display_name": "Episodes", "unit": "count", "kind": "count", "min": 0, "max": 5}
DECLARED = [CELLTYPE, TREATMENT, STAGE, SEX12, KARNO, FLAG, COUNT]


def _spec(**extra: Any) -> ModelSpec:
    return ModelSpec.model_validate({
        "name": "coded", "description": "d", "intended_use": "tests", "target": "y", "horizon_years": 1,
        "id_column": "id", "features": [f["name"] for f in DECLARED] + ["weight_kg"], "declared_features": DECLARED,
        "subgroups": [], **extra})


def _artifact_features(spec: ModelSpec) -> list[ArtifactFeature]:
    return [ArtifactFeature.model_validate(f.public()) for f in feature_definitions(spec)]


def test_levels_and_codes_are_taken_as_written_and_become_their_position() -> None:
    celltype, treatment, stage, sex12, karno, flag, count, _ = feature_definitions(_spec())
    assert (celltype.min, celltype.max, celltype.unit) == (0, 3, "")
    assert encode(celltype, "adeno") == 2 and encode(celltype, " large ") == 3 and encode(celltype, "") is None
    assert encode(treatment, "standard") == 0 and encode(treatment, "test") == 1
    assert encode(stage, 3) == encode(stage, 3.0) == encode(stage, "3") == 2
    assert encode(sex12, 2) == 1 and encode(flag, 1) == 1 and encode(karno, 55.5) == 55.5
    for feature, value, rule in [(celltype, "Adeno", "must be one of squamous, smallcell, adeno, large"),
                                 (treatment, 1, "must be one of standard, test"), (sex12, 0, "must be one of 1, 2"),
                                 (flag, 0.5, "must be a whole number"), (count, 1.5, "must be a whole number"),
                                 (karno, 101, "must lie in 10-100 points"), (karno, math.inf, "must be a finite"),
                                 (karno, "55", "must be a number"), (flag, True, "must be a number")]:
        with pytest.raises(ValueRuleError, match=rule):
            encode(feature, value)
    assert as_written(celltype, 2.0) == "adeno" and as_written(stage, 0.0) == 1 and as_written(flag, 1.0) == 1


# what a table cell or a request value may be: numbers, text, codes, the awkward cases in between
VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 120), st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from([0.5, 1.0, 2.0, 3.0, 10.0, 100.0, 100.5, "adeno", "test", "standard", "1", "2",
                                    "3", " 4 ", "Adeno", "", "x", "nan"]))


@given(st.lists(VALUES, min_size=1, max_size=30))
def test_training_and_serving_accept_and_refuse_the_same_values(values: list[object]) -> None:
    """The same values through the table reader's column rule and through the served request model agree, value by
    value, on accept or refuse and on the number the model sees (0.5 in a binary feature included)."""
    spec = _spec()
    model = features_model("coded", _artifact_features(spec))
    for feature in feature_definitions(spec)[:-1]:
        column = encode_column(feature, values)
        for i, value in enumerate(values):
            try:
                served = getattr(model.model_validate({"weight_kg": 70, feature.name: value}), feature.name)
                accepted = True
            except ValidationError:
                accepted = False
            if isinstance(value, str) and code_text(value) is not None and feature.kind not in ("categorical",) \
                    and feature.name not in ("treatment", "sex12"):
                continue  # text in a number column is the transport's business (a CSV cell is text; JSON is typed)
            assert accepted == (not column.bad[i]), (feature.name, value)
            if accepted:
                want = column.values[i]
                assert (served is None and math.isnan(want)) or served == want, (feature.name, value)


@given(st.lists(st.sampled_from(["squamous", "adeno", "large", "smallcell", "oat", "", None]), min_size=1,
                max_size=60))
def test_a_column_is_ruled_cell_by_cell(cells: list[object]) -> None:
    celltype = feature_definitions(_spec())[0]
    column = encode_column(celltype, cells)
    for i, cell in enumerate(cells):
        if cell == "oat":
            assert column.bad[i] and math.isnan(column.values[i])
        elif cell in ("", None):
            assert not column.bad[i] and math.isnan(column.values[i])
        else:
            assert column.values[i] == ["squamous", "smallcell", "adeno", "large"].index(str(cell))


def test_the_request_schema_is_an_enum_of_the_codes_as_written() -> None:
    props = features_model("coded", _artifact_features(_spec())).model_json_schema()["properties"]
    assert props["celltype"]["anyOf"][0] == {"enum": ["squamous", "smallcell", "adeno", "large"]}
    assert props["treatment"]["anyOf"][0] == {"enum": ["standard", "test"]}
    assert props["stage"]["anyOf"][0] == {"enum": [1, 2, 3, 4]}
    assert props["karno"]["anyOf"][0] == {"type": "number", "minimum": 10, "maximum": 100}
    assert props["flag"]["anyOf"][0] == {"type": "integer", "minimum": 0, "maximum": 1}


def test_overrides_narrow_or_widen_a_registry_range_and_bad_ones_name_the_key() -> None:
    spec = _spec(overrides={"weight_kg": {"min": 20, "max": 350}, "karno": {"min": 20}})
    weight = feature_definitions(spec)[-1]
    assert (weight.min, weight.max) == (20, 350) and feature_definitions(spec)[4].min == 20
    for overrides, message in [({"age_years": {"max": 120}}, "overrides.age_years: not a feature this spec uses"),
                               ({"weight_kg": {"min": 400}}, "overrides.weight_kg: min (400) must be below max"),
                               ({"celltype": {"max": 9}}, "overrides.celltype: a categorical feature has codes"),
                               ({"weight_kg": {"low": 1}}, "weight_kg.low")]:
        with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
            _spec(overrides=overrides)


def test_a_categorical_takes_levels_not_a_range() -> None:
    with pytest.raises(ValidationError, match="needs levels"):
        _spec(declared_features=[{**CELLTYPE, "levels": ["only"]}, *DECLARED[1:]])
    with pytest.raises(ValidationError, match="takes levels, not max"):
        _spec(declared_features=[{**CELLTYPE, "max": 10}, *DECLARED[1:]])
    with pytest.raises(ValidationError, match="listed more than once"):
        _spec(declared_features=[{**CELLTYPE, "levels": ["a", "a"]}, *DECLARED[1:]])


def _table(path: Path, n: int, bad_rows: dict[int, dict[str, object]] | None = None) -> Path:
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({
        "id": [f"p{i}" for i in range(n)],
        "celltype": rng.choice(["squamous", "smallcell", "adeno", "large"], n).astype(object),
        "treatment": rng.choice(["standard", "test"], n).astype(object), "stage": rng.integers(1, 5, n),
        "sex12": rng.integers(1, 3, n), "karno": rng.integers(10, 101, n).astype(float),
        "flag": rng.integers(0, 2, n).astype(float), "episodes": rng.integers(0, 6, n),
        "weight_kg": rng.uniform(40, 120, n).round(1), "y": rng.integers(0, 2, n)})
    for row, values in (bad_rows or {}).items():
        for column, value in values.items():
            frame[column] = frame[column].astype(object)
            frame.loc[row, column] = value
    frame.to_csv(path, index=False)
    return path


def test_the_reader_codes_text_levels_and_refuses_by_default_with_one_line(tmp_path: Path) -> None:
    data = load_table(_table(tmp_path / "t.csv", 200), _spec(), "outcome")
    raw = pd.read_csv(tmp_path / "t.csv")
    assert data.X[:, 0].tolist() == [["squamous", "smallcell", "adeno", "large"].index(c) for c in raw["celltype"]]
    assert set(data.X[:, 1]) == {0, 1} and set(data.X[:, 3]) == {0, 1} and set(data.X[:, 2]) == {0, 1, 2, 3}
    path = _table(tmp_path / "bad.csv", 200, {5: {"celltype": "oat-cell"}, 9: {"celltype": "oat-cell"}})
    with pytest.raises(DataError) as caught:
        load_table(path, _spec(), "outcome")
    assert str(caught.value) == (f"{path}: column celltype: values must be one of squamous, smallcell, adeno, large; "
                                 "2 row(s) break it (first at row 7)")
    described = describe_features(_spec(), data.X)
    assert described[0]["training_min"] is None and described[0]["example"] in (0, 1, 2, 3)


@given(st.sets(st.integers(0, 79), max_size=12), st.sampled_from([
    {"celltype": "oat"}, {"treatment": 1}, {"sex12": 0}, {"karno": 150}, {"flag": 0.5}, {"episodes": "many"},
    {"weight_kg": 500}, {"y": 2}, {"karno": 150, "celltype": "oat"}]))
def test_quarantine_conserves_rows_and_never_writes_a_value(tmp_path_factory: pytest.TempPathFactory,
                                                            rows: set[int], change: dict[str, object]) -> None:
    folder = tmp_path_factory.mktemp("q")
    path = _table(folder / "t.csv", 80, dict.fromkeys(rows, change))
    data = load_table(path, _spec(on_invalid="quarantine"), "outcome", quarantine_dir=folder / "quarantine")
    written = pd.read_csv(folder / "quarantine" / "table-coded.csv", dtype=str)
    assert len(data.source) + len(written) == 80 and len(written) == len(rows)  # rows in = used + quarantined
    assert sorted(written["row"].astype(int)) == sorted(r + 2 for r in rows)  # CSV lines, header = line 1
    assert list(written.columns) == ["source_file", "row", "field", "rule"]
    assert set(written["field"]) <= set(change) and (written["source_file"] == "t.csv").all()
    text = (folder / "quarantine" / "table-coded.csv").read_text()
    assert all(str(v) not in text.replace("must lie in", "") for v in change.values() if str(v) not in "0125")
    assert not set(data.keys) & {f"p{r}" for r in rows}


def test_the_page_form_offers_the_codes_and_reads_them_back_through_the_request_model() -> None:
    from serving.page_form import PREFIX, form_groups, read_form

    features = _artifact_features(_spec())
    fields = {f["name"]: f for _, group in form_groups(features) for f in group}
    assert fields["celltype"]["options"] == [("", "not recorded"), *((c, c) for c in CELLTYPE["levels"])]
    assert fields["sex12"]["options"] == [("", "not recorded"), ("1", "1"), ("2", "2")]
    model = features_model("coded", features)
    form = {PREFIX + "celltype": "adeno", PREFIX + "treatment": "test", PREFIX + "sex12": "2", PREFIX + "karno": "55",
            PREFIX + "weight_kg": "70"}
    _, row, errors = read_form(features, model, form)
    assert errors == {} and row is not None and row[[0, 1, 3, 4]].tolist() == [2, 1, 1, 55] and np.isnan(row[2])
    _, row, errors = read_form(features, model, {**form, PREFIX + "celltype": "oat", PREFIX + "flag": "0.5"})
    assert row is None and errors == {"celltype": "must be one of squamous, smallcell, adeno, large",
                                      "flag": "must be a whole number"}


def test_the_explanation_text_reads_the_code_as_written() -> None:
    from serving.feature_text import FeatureText

    celltype, treatment, stage = (FeatureText.of(f) for f in _artifact_features(_spec())[:3])
    assert celltype.text(2.0) == "adeno" and treatment.text(1.0) == "test" and stage.text(0.0) == "1"
    assert celltype.part("Cell type", "adeno", True) == "Cell type: adeno"
    assert celltype.text(float("nan")) == "not recorded"


def test_a_linear_baseline_sees_a_categorical_as_one_column_per_level_but_the_first() -> None:
    from training.fit import linear_design

    spec = _spec()
    X = np.array([[2, 1, 0, 0, 50, 1, 3, 70], [np.nan, 0, 3, 1, 60, 0, 1, 80]], dtype=float)
    design = linear_design(spec, X)
    assert design.shape == (2, 8 - 2 + 3 + 3)  # celltype and stage: 4 levels each, 3 columns each
    assert design[0, :3].tolist() == [0, 1, 0] and np.isnan(design[1, :3]).all()
