from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from kernel.bundle import BundleError, read_bundle, write_bundle
from kernel.calibration import calibrator_from_dict, fit_calibrator
from training.evaluate import calibration_intercept, calibration_slope


@pytest.mark.parametrize("method", ["sigmoid", "isotonic"])
def test_calibrator_survives_json_round_trip(method: str) -> None:
    rng = np.random.default_rng(0)
    margin = rng.normal(0, 2, 2000)
    y = (rng.random(2000) < 1 / (1 + np.exp(-0.5 * margin))).astype(int)
    calibrator = fit_calibrator(method, margin, y)
    rebuilt = calibrator_from_dict(calibrator.to_dict())
    assert np.allclose(calibrator.predict(margin), rebuilt.predict(margin))
    assert np.all((rebuilt.predict(margin) >= 0) & (rebuilt.predict(margin) <= 1))


def test_sigmoid_calibration_repairs_overconfident_margins() -> None:
    rng = np.random.default_rng(1)
    true_logit = rng.normal(-1, 1, 20_000)
    y = (rng.random(true_logit.size) < 1 / (1 + np.exp(-true_logit))).astype(int)
    overconfident = 3 * true_logit
    raw = 1 / (1 + np.exp(-overconfident))
    calibrated = fit_calibrator("sigmoid", overconfident, y).predict(overconfident)
    assert calibration_slope(y, raw) < 0.5
    assert abs(calibration_slope(y, calibrated) - 1) < 0.05
    assert abs(calibration_intercept(y, calibrated)) < 0.05


def test_malformed_calibrator_is_refused() -> None:
    with pytest.raises(ValueError, match="malformed"):
        calibrator_from_dict({"method": "isotonic", "knots_x": [2, 1], "knots_y": [0.1, 0.2]})
    with pytest.raises(ValueError, match="unknown calibration"):
        calibrator_from_dict({"method": "pickle"})


def _artifact() -> dict[str, object]:
    """The smallest valid risk artifact with features a and b (write_bundle validates what it writes)."""
    feature = {"display_name": "A", "unit": "1", "source": "other", "kind": "continuous", "min": 0, "max": 1,
               "concept": "A"}
    return {"task": "risk_classification", "model": "m", "description": "d", "intended_use": "u", "target": "y",
            "horizon_years": 1.0, "features": [{**feature, "name": "a"}, {**feature, "name": "b"}]}


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(2)
    X = rng.random((200, 2))
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=X[:, 0] > 0.5), 3)
    spec = _artifact()
    write_bundle(tmp_path / "b", booster, fit_calibrator("sigmoid", rng.normal(size=50), rng.integers(0, 2, 50)),
                 spec)
    return tmp_path / "b"


def test_bundle_round_trip(bundle_dir: Path) -> None:
    bundle = read_bundle(bundle_dir)
    assert bundle.feature_names == ["a", "b"]
    assert bundle.booster.num_features() == 2


@pytest.mark.parametrize("victim", ["booster.ubj", "calibrator.json", "feature_spec.json"])
def test_tampered_file_is_refused(bundle_dir: Path, victim: str) -> None:
    path = bundle_dir / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=victim):
        read_bundle(bundle_dir)


def test_symlinked_file_is_refused(bundle_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.json"
    (bundle_dir / "calibrator.json").replace(outside)
    (bundle_dir / "calibrator.json").symlink_to(outside)
    with pytest.raises(BundleError, match=r"calibrator\.json"):
        read_bundle(bundle_dir)


def test_missing_manifest_is_refused(bundle_dir: Path) -> None:
    (bundle_dir / "manifest.json").unlink()
    with pytest.raises(BundleError, match="manifest"):
        read_bundle(bundle_dir)


def test_model_card_travels_in_the_bundle_and_is_verified(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    X = rng.random((100, 2))
    booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(X, label=X[:, 0] > 0.5), 2)
    card = tmp_path / "model_card.md"
    card.write_text("# Model card: demo\n")
    folder = tmp_path / "b"
    write_bundle(folder, booster, fit_calibrator("sigmoid", rng.normal(size=50), rng.integers(0, 2, 50)),
                 _artifact(), cards=[card])
    assert read_bundle(folder).cards == {"model_card.md": "# Model card: demo\n"}
    (folder / "model_card.md").write_text("# Model card: edited\n")
    with pytest.raises(BundleError, match=r"model_card\.md"):
        read_bundle(folder)
