"""Features more than one cohort measures and the EHR table does not: defined once here, imported by each."""

from __future__ import annotations

from features.registry import Feature

WEIGHT_KG = Feature(
    name="weight_kg", display_name="Body weight", unit="kg", source="demographic", kind="continuous",
    min=25, max=300, concept="Body size", required=True,
    derivation="measured body weight at the index date (trial randomisation, warfarin initiation)")

FEATURES: tuple[Feature, ...] = (WEIGHT_KG,)
