"""A risk model's horizon must be its target's: a 5-year spec on a 10-year outcome would be served as "5-year risk"
while it predicts the 10-year one.

pmed's own outcomes (``features.outcomes.OUTCOMES``) state their horizon; any other target whose name ends in
``_<N>y`` (``cad_10y``, ``relapse_3y``) states it in its name. Another target name says nothing, and the
spec's ``horizon_years`` is taken as given. (Survival models state the horizon in days and are refused when it
lies beyond the follow-up: ``training.survival.fit.check_follow_up``.)
"""

from __future__ import annotations

import re

from features.outcomes import OUTCOMES

_NAMED = re.compile(r"_(\d+(?:\.\d+)?)y$")


def target_horizon(target: str) -> tuple[float, str] | None:
    """(years, where that comes from) for a target whose horizon is known; None otherwise."""
    if target in OUTCOMES:
        return float(OUTCOMES[target].horizon_years), f"pmed's outcome {target} is defined over"
    named = _NAMED.search(target)
    if named:
        return float(named.group(1)), f"target {target} names"
    return None


def check_horizon(target: str, horizon_years: float) -> None:
    """Refuse (ValueError naming both) a ``horizon_years`` that is not the target's own horizon."""
    known = target_horizon(target)
    if known is not None and abs(known[0] - horizon_years) > 1e-9:
        raise ValueError(f"horizon_years {horizon_years:g} does not match the target: {known[1]} {known[0]:g} "
                         f"years; set horizon_years: {known[0]:g} or use a target with a {horizon_years:g}-year "
                         "horizon")
