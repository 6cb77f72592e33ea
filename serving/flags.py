"""Flags on a patient's inputs, and the decision to abstain rather than give a confident number.

What the training data looked like is fixed in the bundle's artifact at training time (observed
min/max, quantiles, mean |SHAP| importance); older bundles without some of it still load, and the checks
that need the missing part are simply skipped (importance falls back to equal weights).

An input that was (almost) never missing in training (``UNSEEN_MISSING_RATE``) and is missing now is a
blank the model never learned: XGBoost sends it down a default branch chosen from a handful of patients or
from none at all, which can move the risk by many points (a blank polygenic score once took a patient from 58%
to 70%). Per the artifact's ``missing_unseen`` the answer then abstains (``abstain``, the spec's default), or
answers with a ``missing_unseen`` warning that states how far the risk moves against the training median
(``warn``; the risk answer computes that change, ``serving.risk.answer``). A bundle written before the setting
(``missing_unseen`` null) is answered as it was when promoted. The ``max_missing_importance`` abstention is
separate and unchanged.

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

UNSEEN_MISSING_RATE = 0.01  # missing in fewer than 1% of training patients: the model never learned the blank


@dataclass(frozen=True)
class Assessment:
    flags: list[Flag]
    abstain_reason: str | None


def assess(spec: Artifact, row: np.ndarray, check: Iterable[int] | None = None,
           effects: dict[int, float] | None = None) -> Assessment:
    """Flags for one patient's row (model order, NaN = missing) and, if the model should abstain, why.

    ``check``: the feature indexes (ascending) that could raise a flag, when the caller already knows the
    others lie inside every bound checked here (``serving.risk.answer`` does, for a whole batch at once).
    ``effects``: for ``missing_unseen: warn``, feature index -> risk change in percentage points (risk with
    the blank minus risk with the training median), stated in that feature's warning.
    """
    features = spec.features
    values = row.tolist()
    warn = spec.missing_unseen == "warn"
    flags = [flag for j in (range(len(features)) if check is None else check)
             if (flag := _value_flag(features[j], float(values[j]), warn, (effects or {}).get(j))) is not None]
    reason = abstain_reason(spec, row)
    if reason:
        flags.insert(0, Flag(kind="abstained", severity="critical", feature=None, message=reason))
    return Assessment(flags=flags, abstain_reason=reason)


def unseen_missing(spec: Artifact, row: np.ndarray) -> list[int]:
    """Indexes of the row's missing features that were (almost) never missing in training, when the artifact
    checks for them (``missing_unseen`` set; a feature without a recorded training missing rate is skipped)."""
    if spec.missing_unseen is None:
        return []
    return [int(j) for j in np.flatnonzero(np.isnan(row)) if _never_missing(spec.features[j])]


def _never_missing(feature: ArtifactFeature) -> bool:
    rate = feature.training_missing_rate
    return rate is not None and rate < UNSEEN_MISSING_RATE


def _unseen_text(feature: ArtifactFeature) -> str:
    rate = feature.training_missing_rate or 0.0
    share = "none" if rate == 0 else f"{100 * rate:.1g}%"
    return (f"{feature.display_name} was not provided, but it was missing for {share} of the training patients "
            "(fewer than 1%): the model never learned what a blank means here")


def _value_flag(feature: ArtifactFeature, value: float, warn: bool = False,
                effect: float | None = None) -> Flag | None:
    name = feature.display_name
    if math.isnan(value) and warn and _never_missing(feature):
        size = ("" if effect is None else
                f"; with the training median ({value_text(feature, feature.example)}) instead of the blank the "
                f"risk would be {abs(effect):.1f} percentage points {'lower' if effect > 0 else 'higher'}"
                if abs(effect) >= 0.05 else
                f"; with the training median ({value_text(feature, feature.example)}) instead of the blank the "
                "risk would be the same (within 0.1 percentage points)")
        return Flag(kind="missing_unseen", severity="warning", feature=feature.name,
                    message=f"{_unseen_text(feature)}{size}. Record it and ask again for an answer that rests on it")
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
    unseen = unseen_missing(spec, row) if spec.missing_unseen == "abstain" else []
    if unseen:
        return ("; ".join(_unseen_text(features[j]) for j in unseen)
                + ", so its absence would move the answer in a way no training patient supports; record it and ask "
                  "again")
    return None
