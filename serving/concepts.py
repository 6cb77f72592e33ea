"""Clinical concepts: a patient's per-feature contributions folded back into what a clinician names.

Each feature declares its ``concept`` in the feature registry (or, for a bring-your-own table, in the
model spec, where it defaults to the feature's display name). Features sharing a concept, e.g. systolic
pressure and blood-pressure medication under "Blood pressure", are added together on both scales; that
is exact, because both log-odds contributions and risk points are additive.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from serving.schemas import Concept, ConceptValue, Direction

_BINARY_LABELS = re.compile(r"^\s*1\s*=\s*(?P<one>[^,]+?)\s*,\s*0\s*=\s*(?P<zero>[^,]+?)\s*$")
_PARENTHESIS = re.compile(r"\s*\(.*\)\s*$")
NOT_RECORDED = "not recorded"


def concept_of(feature: dict[str, Any]) -> str:
    """The concept a feature belongs to; bundles written before concepts existed fall back to the name."""
    return feature.get("concept") or feature.get("display_name") or feature["name"]


def binary_labels(feature: dict[str, Any]) -> tuple[str, str] | None:
    """('yes', 'no') or ('male', 'female') from a binary feature's unit '1 = yes, 0 = no'."""
    labels = _BINARY_LABELS.match(feature["unit"]) if feature.get("kind") == "binary" else None
    return (labels["one"], labels["zero"]) if labels else None


def value_text(feature: dict[str, Any], value: float | None) -> str:
    """'190 mg/dL', 'yes', 'male', 'not recorded': the value as it reads in a sentence."""
    if value is None or math.isnan(value):
        return NOT_RECORDED
    labels = binary_labels(feature)
    if labels:
        return labels[0] if value == 1 else labels[1]
    unit = _PARENTHESIS.sub("", feature["unit"])  # 'alleles (0-2)' -> 'alleles'
    if unit.startswith("score"):
        return f"{_number(value)} ({unit})"  # 'score 0-10 (10 = best)' -> '6.5 (score 0-10)'
    return f"{_number(value)} {unit}".strip()


def _number(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def direction(amount: float) -> Direction:
    return "raises risk" if amount > 0 else "lowers risk" if amount < 0 else "no effect"


def group_concepts(features: list[dict[str, Any]], row: np.ndarray, log_odds: np.ndarray, points: np.ndarray,
                   horizon_years: float) -> list[Concept]:
    """One Concept per distinct concept, in the order of largest absolute risk points first."""
    members: dict[str, list[int]] = {}
    for j, feature in enumerate(features):
        members.setdefault(concept_of(feature), []).append(j)
    values, phi, pts = row.tolist(), log_odds.tolist(), points.tolist()
    concepts = [_concept(name, [features[j] for j in idx], [values[j] for j in idx], sum(phi[j] for j in idx),
                         sum(pts[j] for j in idx), horizon_years) for name, idx in members.items()]
    return sorted(concepts, key=lambda c: (-abs(c.risk_points), -abs(c.log_odds), c.concept))


def _concept(name: str, features: list[dict[str, Any]], values: list[float], log_odds: float, points: float,
             horizon_years: float) -> Concept:
    shown = [ConceptValue(feature=f["name"], display_name=f["display_name"], value=None if math.isnan(v) else v,
                          unit=f["unit"], text=value_text(f, v)) for f, v in zip(features, values)]
    sources = sorted({f["source"] for f in features})
    return Concept(concept=name, sources=sources, values=shown, log_odds=log_odds, risk_points=points,
                   direction=direction(points if points != 0 else log_odds),
                   sentence=sentence(name, features, shown, points, horizon_years))


def describe_values(name: str, features: list[dict[str, Any]], shown: list[ConceptValue]) -> str:
    """'LDL cholesterol 190 mg/dL', 'Sex: male', or for a concept of several features
    'Smoking (Current smoker: yes; Smoking history 20 pack-years)'."""
    parts = [_part(name, f, v, single=len(shown) == 1) for f, v in zip(features, shown)]
    return parts[0] if len(parts) == 1 else f"{name} ({'; '.join(parts)})"


def _part(concept: str, feature: dict[str, Any], value: ConceptValue, single: bool) -> str:
    if value.text == NOT_RECORDED:
        return f"{value.display_name} {NOT_RECORDED}"
    if feature.get("kind") != "binary":
        return f"{value.display_name} {value.text}"
    if value.text in ("yes", "no"):
        return f"{value.display_name}: {value.text}"
    return f"{concept}: {value.text}" if single else value.text  # a labelled binary such as sex: 'male'


def sentence(name: str, features: list[dict[str, Any]], shown: list[ConceptValue], points: float,
             horizon_years: float) -> str:
    """A driver as a clinician would say it, with the size on the risk-points scale (one decimal)."""
    subject = describe_values(name, features, shown)
    horizon = f"{_number(horizon_years)}-year risk"
    size = round(abs(points), 1)
    if size == 0:
        return f"{subject} changes the {horizon} by less than 0.1 points"
    verb = "raises" if points > 0 else "lowers"
    return f"{subject} {verb} the {horizon} by {size:.1f} points"
