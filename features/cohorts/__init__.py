"""Every feature a model spec may name, by one definition: the EHR table's registry plus each cohort's own.

``features.registry`` holds the features the patient table is built from (EHR, genetic, lifestyle). A cohort
that arrives as its own table (a randomised trial, the IWPC warfarin cohort) adds the features only it has in
one module here, exposing ``FEATURES``; a name it shares with another cohort (``weight_kg``, ``age_years``)
is defined once and imported, never re-typed, and ``DEFINITIONS`` refuses two different definitions under one
name. Modules are found by discovery, so a new cohort is one new file.
"""

from __future__ import annotations

import importlib
import pkgutil

from features.registry import FEATURES as TABLE_FEATURES
from features.registry import Feature


def _cohort_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def _collect() -> dict[str, Feature]:
    """The union of the table's features and every cohort's, failing on a name defined two ways."""
    found: dict[str, Feature] = {f.name: f for f in TABLE_FEATURES}
    for module in _cohort_modules():
        for feature in importlib.import_module(f"{__name__}.{module}").FEATURES:
            if found.setdefault(feature.name, feature) != feature:
                raise ValueError(f"feature {feature.name} is defined twice with different definitions "
                                 f"(features.cohorts.{module}); define it once and import it")
    return found


DEFINITIONS: dict[str, Feature] = _collect()
