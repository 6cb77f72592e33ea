"""The features of the IWPC warfarin cohort (``features.iwpc``) that the EHR table lacks, as the dose model uses them.

The IWPC algorithm's inputs keep the names of its published form, and so the request fields of the served
``warfarin_dose`` model. ``vkorc1_1639_a_count`` is the registry's ``vkorc1_1639a_alleles`` under the IWPC
name (an alias: same definition, one more spelling, see ``alias``), and ``weight_kg`` the one shared with
the trial.
"""

from __future__ import annotations

from features.cohorts.shared import WEIGHT_KG
from features.registry import REGISTRY, Feature

_IWPC = "as recorded in the PharmGKB IWPC release (features.iwpc.prepare_iwpc)"
_NOT_TYPED = "; empty = not typed"


def alias(feature: Feature, name: str, **differences: object) -> Feature:
    """One definition under a second name (a published algorithm's spelling), differing only where stated."""
    return feature.model_copy(update={"name": name, "derivation": f"{feature.derivation} (alias of {feature.name})",
                                      **differences})


def _binary(name: str, display: str, concept: str, unit: str, source: str) -> Feature:
    return Feature(name=name, display_name=display, unit=unit, source=source, kind="binary",  # type: ignore[arg-type]
                   min=0, max=1, concept=concept, required=True, derivation=_IWPC)


def _alleles(name: str, display: str, concept: str) -> Feature:
    return Feature(name=name, display_name=display, unit="count (0-2" + _NOT_TYPED + ")", source="genetic",
                   kind="count", min=0, max=2, concept=concept, derivation=_IWPC)


FEATURES: tuple[Feature, ...] = (
    Feature(name="age_decade", display_name="Age (decade)", unit="decade (1 = 10-19 ... 9 = 90+)",
            source="demographic", kind="count", min=1, max=9, concept="Age", required=True, derivation=_IWPC),
    Feature(name="height_cm", display_name="Height", unit="cm", source="demographic", kind="continuous",
            min=100, max=230, concept="Body size", required=True, derivation=_IWPC),
    WEIGHT_KG,
    _binary("race_asian", "Race: Asian", "Race (OMB)", "1 = yes, 0 = no", "demographic"),
    _binary("race_black", "Race: Black or African American", "Race (OMB)", "1 = yes, 0 = no", "demographic"),
    _binary("race_unknown", "Race: missing or mixed", "Race (OMB)", "1 = yes, 0 = no", "demographic"),
    _alleles("cyp2c9_star2_count", "CYP2C9 *2 alleles", "CYP2C9 genotype"),
    _alleles("cyp2c9_star3_count", "CYP2C9 *3 alleles", "CYP2C9 genotype"),
    alias(REGISTRY["vkorc1_1639a_alleles"], "vkorc1_1639_a_count", unit="count (0-2" + _NOT_TYPED + ")"),
    _binary("amiodarone", "Amiodarone", "Interacting drugs", "1 = taking, 0 = not taking", "ehr"),
    _binary("enzyme_inducer", "Enzyme inducer (carbamazepine, phenytoin, rifampin)", "Interacting drugs",
            "1 = taking, 0 = not taking", "ehr"),
)
