"""Clinical concepts: a patient's per-feature contributions folded back into what a clinician names.

Each feature declares its ``concept`` in the feature registry (or, for a bring-your-own table, in the
model spec, where it defaults to the feature's display name). Features sharing a concept, e.g. systolic
pressure and blood-pressure medication under "Blood pressure", are added together on both scales; that
is exact, because both log-odds contributions and risk points are additive.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from serving.schemas import Concept, ConceptValue, Direction

_BINARY_LABELS = re.compile(r"^\s*1\s*=\s*(?P<one>[^,]+?)\s*,\s*0\s*=\s*(?P<zero>[^,]+?)\s*$")
_PARENTHESIS = re.compile(r"\s*\(.*\)\s*$")
NOT_RECORDED = "not recorded"


def concept_of(feature: dict[str, Any]) -> str:
    """The concept a feature belongs to; bundles written before concepts existed fall back to the name."""
    return feature.get("concept") or feature.get("display_name") or feature.get("name", "")


def binary_labels(feature: dict[str, Any]) -> tuple[str, str] | None:
    """('yes', 'no') or ('male', 'female') from a binary feature's unit '1 = yes, 0 = no'."""
    labels = _BINARY_LABELS.match(feature["unit"]) if feature.get("kind") == "binary" else None
    return (labels["one"], labels["zero"]) if labels else None


@dataclass(frozen=True)
class FeatureText:
    """What a feature's values read like in a sentence, parsed once from its spec entry (units, labels)."""

    name: str
    display_name: str
    unit: str
    source: str
    concept: str
    kind: str | None
    labels: tuple[str, str] | None
    unit_text: str  # the unit without a trailing parenthesis: 'alleles (0-2)' -> 'alleles'

    @classmethod
    def of(cls, feature: dict[str, Any]) -> FeatureText:
        return cls(name=feature.get("name", ""), display_name=feature.get("display_name", feature.get("name", "")),
                   unit=feature.get("unit", ""), source=feature.get("source", "other"), concept=concept_of(feature),
                   kind=feature.get("kind"), labels=binary_labels(feature),
                   unit_text=_PARENTHESIS.sub("", feature.get("unit", "")))

    def text(self, value: float | None) -> str:
        """'190 mg/dL', 'yes', 'male', 'not recorded': the value as it reads in a sentence."""
        if value is None or math.isnan(value):
            return NOT_RECORDED
        if self.labels:
            return self.labels[0] if value == 1 else self.labels[1]
        if self.unit_text.startswith("score"):
            return f"{_number(value)} ({self.unit_text})"  # 'score 0-10 (10 = best)' -> '6.5 (score 0-10)'
        return f"{_number(value)} {self.unit_text}".strip()


@dataclass(frozen=True)
class ConceptPlan:
    """A model's features grouped by concept, with their texts: built once per served version, so a batch
    of patients pays only for its own numbers and sentences."""

    features: list[FeatureText]
    groups: list[tuple[str, list[int], list[str]]]  # concept, member feature indexes, sorted sources

    @classmethod
    def of(cls, features: list[dict[str, Any]]) -> ConceptPlan:
        texts = [FeatureText.of(f) for f in features]
        members: dict[str, list[int]] = {}
        for j, feature in enumerate(texts):
            members.setdefault(feature.concept, []).append(j)
        groups = [(name, idx, sorted({texts[j].source for j in idx})) for name, idx in members.items()]
        return cls(features=texts, groups=groups)


def value_text(feature: dict[str, Any], value: float | None) -> str:
    """'190 mg/dL', 'yes', 'male', 'not recorded': the value as it reads in a sentence."""
    return FeatureText.of(feature).text(value)


def _number(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def direction(amount: float) -> Direction:
    return "raises risk" if amount > 0 else "lowers risk" if amount < 0 else "no effect"


def group_concepts(features: list[dict[str, Any]], row: np.ndarray, log_odds: np.ndarray, points: np.ndarray,
                   horizon_years: float, plan: ConceptPlan | None = None) -> list[Concept]:
    """One Concept per distinct concept, in the order of largest absolute risk points first.

    ``plan`` is ``ConceptPlan.of(features)``, which callers scoring many patients build once.
    """
    plan = plan or ConceptPlan.of(features)
    values, phi, pts = row.tolist(), log_odds.tolist(), points.tolist()
    concepts = [_concept(name, sources, [plan.features[j] for j in idx], [values[j] for j in idx],
                         sum(phi[j] for j in idx), sum(pts[j] for j in idx), horizon_years)
                for name, idx, sources in plan.groups]
    return sorted(concepts, key=lambda c: (-abs(c.risk_points), -abs(c.log_odds), c.concept))


def _concept(name: str, sources: list[str], features: list[FeatureText], values: list[float], log_odds: float,
             points: float, horizon_years: float) -> Concept:
    shown = [ConceptValue(feature=f.name, display_name=f.display_name, value=None if math.isnan(v) else v,
                          unit=f.unit, text=f.text(v)) for f, v in zip(features, values)]
    return Concept(concept=name, sources=sources, values=shown, log_odds=log_odds, risk_points=points,
                   direction=direction(points if points != 0 else log_odds),
                   sentence=sentence(name, features, shown, points, horizon_years))


def describe_values(name: str, features: list[FeatureText], shown: list[ConceptValue]) -> str:
    """'LDL cholesterol 190 mg/dL', 'Sex: male', or for a concept of several features
    'Smoking (Current smoker: yes; Smoking history 20 pack-years)'."""
    if len(shown) == 1:
        return _part(name, features[0].kind, shown[0], single=True)
    return f"{name} ({'; '.join(_part(name, f.kind, v, single=False) for f, v in zip(features, shown))})"


def _part(concept: str, kind: str | None, value: ConceptValue, single: bool) -> str:
    if value.text == NOT_RECORDED:
        return f"{value.display_name} {NOT_RECORDED}"
    if kind != "binary":
        return f"{value.display_name} {value.text}"
    if value.text in ("yes", "no"):
        return f"{value.display_name}: {value.text}"
    return f"{concept}: {value.text}" if single else value.text  # a labelled binary such as sex: 'male'


def sentence(name: str, features: list[FeatureText], shown: list[ConceptValue], points: float,
             horizon_years: float) -> str:
    """A driver as a clinician would say it, with the size on the risk-points scale (one decimal)."""
    subject = describe_values(name, features, shown)
    horizon = f"{_number(horizon_years)}-year risk"
    size = round(abs(points), 1)
    if size == 0:
        return f"{subject} changes the {horizon} by less than 0.1 points"
    verb = "raises" if points > 0 else "lowers"
    return f"{subject} {verb} the {horizon} by {size:.1f} points"
