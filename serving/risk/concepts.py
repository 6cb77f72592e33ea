"""Clinical concepts: a patient's per-feature contributions folded back into what a clinician names.

Each feature declares its ``concept`` in the feature registry (or, for a bring-your-own table, in the
model spec, where it defaults to the feature's display name). Features sharing a concept, e.g. systolic
pressure and blood-pressure medication under "Blood pressure", are added together on both scales; that
is exact, because both log-odds contributions and risk points are additive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kernel.artifact import ArtifactFeature
from serving.feature_text import NOT_RECORDED, FeatureText, number_text
from serving.schemas import Concept, Direction


@dataclass(frozen=True)
class ConceptGroup:
    """One concept of a plan: its member features (model order) and what every patient's answer repeats."""

    name: str
    members: list[int]
    sources: list[str]
    features: list[FeatureText] = field(repr=False)


@dataclass(frozen=True)
class ConceptPlan:
    """A model's features grouped by concept, with their texts: built once per served version, so a batch
    of patients pays only for its own numbers and sentences."""

    features: list[FeatureText]
    concepts: list[ConceptGroup] = field(repr=False)  # in first-appearance order, with their features' texts
    name_rank: np.ndarray = field(repr=False)  # each concept's place in name order: the last sort key
    layers: list[tuple[np.ndarray, np.ndarray]] = field(repr=False)  # k-th members: (concepts, features)

    @classmethod
    def of(cls, features: list[ArtifactFeature]) -> ConceptPlan:
        texts = [FeatureText.of(f) for f in features]
        members: dict[str, list[int]] = {}
        for j, feature in enumerate(texts):
            members.setdefault(feature.concept, []).append(j)
        groups = [(name, idx, sorted({texts[j].source for j in idx})) for name, idx in members.items()]
        concepts = [ConceptGroup(name, idx, sources, [texts[j] for j in idx]) for name, idx, sources in groups]
        names = [name for name, _, _ in groups]
        rank = np.empty(len(names), dtype=np.intp)
        rank[sorted(range(len(names)), key=names.__getitem__)] = np.arange(len(names))
        depth = max((len(idx) for _, idx, _ in groups), default=0)
        layers = [(np.array([g for g, (_, idx, _) in enumerate(groups) if len(idx) > k], dtype=np.intp),
                   np.array([idx[k] for _, idx, _ in groups if len(idx) > k], dtype=np.intp)) for k in range(depth)]
        return cls(features=texts, concepts=concepts, name_rank=rank, layers=layers)

    def sums(self, per_feature: np.ndarray) -> np.ndarray:
        """(n, concepts) from (n, features): each concept's members added left to right from 0.0, the same
        floating-point operations as Python's ``sum`` over the members, for every row at once."""
        out = np.zeros((per_feature.shape[0], len(self.concepts)), dtype=np.float64)
        for groups, features in self.layers:
            out[:, groups] += per_feature[:, features]
        return out

    def order(self, log_odds: np.ndarray, points: np.ndarray) -> np.ndarray:
        """(n, concepts) concept indexes per row, largest absolute risk points first, then largest absolute
        log-odds, then concept name: ``group_concepts``' order, sorted for every row at once."""
        rank = np.broadcast_to(self.name_rank, points.shape)
        return np.lexsort((rank, -np.abs(log_odds), -np.abs(points)), axis=-1)


def direction(amount: float) -> Direction:
    return "raises risk" if amount > 0 else "lowers risk" if amount < 0 else "no effect"


def horizon_text(horizon_years: float) -> str:
    """'10-year risk', the words every sentence of an answer shares."""
    return f"{number_text(horizon_years)}-year risk"


def group_concepts(features: list[ArtifactFeature], row: np.ndarray, log_odds: np.ndarray, points: np.ndarray,
                   horizon_years: float, plan: ConceptPlan | None = None) -> list[Concept]:
    """One Concept per distinct concept, in the order of largest absolute risk points first.

    ``plan`` is ``ConceptPlan.of(features)``, which callers scoring many patients build once.
    """
    plan = plan or ConceptPlan.of(features)
    phi, pts = np.asarray(log_odds, dtype=np.float64)[None, :], np.asarray(points, dtype=np.float64)[None, :]
    sums_lo, sums_pts = plan.sums(phi), plan.sums(pts)
    order = plan.order(sums_lo, sums_pts)[0].tolist()
    return [Concept.model_validate(c) for c in concept_dicts(plan, row.tolist(), order, sums_lo[0].tolist(),
                                                             sums_pts[0].tolist(), horizon_text(horizon_years))]


def concept_dicts(plan: ConceptPlan, values: list[float], order: list[int], log_odds: list[float],
                  points: list[float], horizon: str) -> list[dict[str, Any]]:
    """One patient's concepts as plain dicts in ``order`` (validated into ``Concept`` by the caller: pydantic
    builds nested models from dicts faster than from Python-constructed ones). ``log_odds`` and ``points``
    are the concept sums (``ConceptPlan.sums``), ``horizon`` is ``horizon_text``."""
    out = []
    for g in order:
        group = plan.concepts[g]
        lo, pts = log_odds[g], points[g]
        shown = [_value_dict(f, values[j]) for f, j in zip(group.features, group.members, strict=True)]
        out.append({"concept": group.name, "sources": group.sources, "values": shown, "log_odds": lo,
                    "risk_points": pts, "direction": direction(pts if pts != 0 else lo),
                    "sentence": _sentence(group, shown, pts, horizon)})
    return out


def _value_dict(feature: FeatureText, value: float) -> dict[str, Any]:
    nan = math.isnan(value)
    return {"feature": feature.name, "display_name": feature.display_name, "value": None if nan else value,
            "unit": feature.unit, "text": NOT_RECORDED if nan else feature.text(value)}


def _sentence(group: ConceptGroup, shown: list[dict[str, Any]], points: float, horizon: str) -> str:
    """A driver as a clinician would say it, with the size on the risk-points scale (one decimal)."""
    if len(shown) == 1:
        subject = group.features[0].part(group.name, shown[0]["text"], single=True)
    else:
        parts = (f.part(group.name, v["text"], single=False) for f, v in zip(group.features, shown, strict=True))
        subject = f"{group.name} ({'; '.join(parts)})"
    size = f"{abs(points):.1f}"  # the same digits as round(abs(points), 1), in one correctly rounded step
    if size == "0.0":
        return f"{subject} changes the {horizon} by less than 0.1 points"
    return f"{subject} {'raises' if points > 0 else 'lowers'} the {horizon} by {size} points"

