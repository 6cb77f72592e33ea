from pathlib import Path

import pytest
import yaml

from training.spec import SpecError, load_spec

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["cad_risk", "t2d_risk"])
def test_shipped_specs_are_valid(name: str) -> None:
    spec = load_spec(REPO / "models" / f"{name}.yaml")
    assert spec.name == name
    assert set(spec.monotone_constraints) <= set(spec.features)


def _write(tmp_path: Path, **changes: object) -> Path:
    raw = yaml.safe_load((REPO / "tests" / "specs" / "cad_risk_binary.yaml").read_text())
    raw.update(changes)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_unknown_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"learning_rat.*Extra inputs"):
        load_spec(_write(tmp_path, xgboost={"learning_rat": 0.1}))


def test_unknown_feature_is_named(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="ldl_mmol_l"):
        load_spec(_write(tmp_path, features=["age_years", "ldl_mmol_l"]))


def test_split_must_add_up(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="add up to 1"):
        load_spec(_write(tmp_path, split={"train": 0.5, "validation": 0.2, "test": 0.2}))


def test_monotone_constraint_on_unused_feature_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="sleep_hours"):
        load_spec(_write(tmp_path, features=["age_years"], monotone_constraints={"sleep_hours": 1}))
