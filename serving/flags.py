"""Flags on a patient's inputs, and the decision to abstain rather than give a confident number.

What the training data looked like is fixed in the bundle's artifact at training time (observed
min/max, quantiles, mean |SHAP| importance); older bundles without some of it still load, and the checks
that need the missing part are simply skipped (importance falls back to equal weights).

Messages never repeat the patient's value, only the training figures it was compared against.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from kernel.artifact import Artifact, ArtifactFeature
from serving.feature_text import value_text
from serving.schemas import Flag


@dataclass(frozen=True)
class Assessment:
    flags: list[Flag]
    abstain_reason: str | None


def assess(spec: Artifact, row: np.ndarray, check: Iterable[int] | None = None) -> Assessment:
    """Flags for one patient's row (model order, NaN = missing) and, if the model should abstain, why.

    ``check``: the feature indexes (ascending) that could raise a flag, when the caller already knows the
    others lie inside every bound checked here (``serving.risk.answer`` does, for a whole batch at once).
    """
    features = spec.features
    values = row.tolist()
    flags = [flag for j in (range(len(features)) if check is None else check)
             if (flag := _value_flag(features[j], float(values[j]))) is not None]
    reason = abstain_reason(spec, row)
    if reason:
        flags.insert(0, Flag(kind="abstained", severity="critical", feature=None, message=reason))
    return Assessment(flags=flags, abstain_reason=reason)


def _value_flag(feature: ArtifactFeature, value: float) -> Flag | None:
    name = feature.display_name
    if math.isnan(value):
        return Flag(kind="missing", severity="info", feature=feature.name,
                    message=f"{name} was not provided: nothing was imputed, the model followed the branch it "
                            "learned for missing values")
    low, high = feature.training_min, feature.training_max
    if low is not None and value < low:
        return Flag(kind="outside_training_range", severity="warning", feature=feature.name,
                    message=f"{name} is below the lowest value in the training data ({value_text(feature, low)}); "
                            "the model has not seen such patients and its answer there is an extrapolation")
    if high is not None and value > high:
        return Flag(kind="outside_training_range", severity="warning", feature=feature.name,
                    message=f"{name} is above the highest value in the training data "
                            f"({value_text(feature, high)}); the model has not seen such patients and its "
                            "answer there is an extrapolation")
    p01, p99 = feature.training_quantiles.get("p01"), feature.training_quantiles.get("p99")
    if feature.kind == "continuous" and p01 is not None and p99 is not None and not p01 <= value <= p99:
        return Flag(kind="unusual_value", severity="info", feature=feature.name,
                    message=f"{name} is outside the middle 98% of the training data ({value_text(feature, p01)} "
                            f"to {value_text(feature, p99)}); few training patients were like this")
    return None


def missing_importance_share(features: list[ArtifactFeature], row: np.ndarray) -> float:
    """Share of the model's mean |SHAP| importance carried by the missing features (equal weights when the
    bundle records no importance)."""
    weights = np.array([float(f.mean_abs_shap or 0.0) for f in features])
    if all(f.mean_abs_shap is None for f in features) or weights.sum() <= 0:
        weights = np.ones(len(features))
    return float(weights[np.isnan(row)].sum() / weights.sum())


def abstain_reason(spec: Artifact, row: np.ndarray) -> str | None:
    """Why no risk should be given for this row, or None when it may be."""
    features = spec.features
    missing = [features[j] for j in np.flatnonzero(np.isnan(row))]
    required = [f.display_name for f in missing if f.required]
    if required:
        return f"a required input is missing ({', '.join(required)})"
    share = missing_importance_share(features, row) if missing else 0.0  # nothing missing: no share
    limit = float(spec.max_missing_importance)
    if share > limit:
        names = ", ".join(f.display_name for f in missing)
        return (f"too much is missing for a confident answer: the missing inputs ({names}) carry {share:.0%} of "
                f"the model's usual evidence (mean |SHAP| importance), more than the {limit:.0%} this model "
                "allows; record them and ask again")
    return None
