"""How a feature's values read in a sentence ('190 mg/dL', 'yes', 'male', 'adeno', 'not recorded'), parsed once
from its artifact entry; shared by the flags, the risk concepts and the clinician page of every task. A coded
feature (a categorical's levels, a binary's declared codes) reads as its code as written in the table."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from kernel.artifact import ArtifactFeature
from kernel.values import coded_as

_BINARY_LABELS = re.compile(r"^\s*1\s*=\s*(?P<one>[^,]+?)\s*,\s*0\s*=\s*(?P<zero>[^,]+?)\s*$")
_PARENTHESIS = re.compile(r"\s*\(.*\)\s*$")
NOT_RECORDED = "not recorded"


def concept_of(feature: ArtifactFeature) -> str:
    """The concept a feature belongs to; bundles written before concepts existed fall back to the name."""
    return feature.concept or feature.display_name or feature.name


def binary_labels(feature: ArtifactFeature) -> tuple[str, str] | None:
    """('yes', 'no') or ('male', 'female') from a binary feature's unit '1 = yes, 0 = no' (a binary with
    declared codes reads as its codes instead)."""
    labels = _BINARY_LABELS.match(feature.unit) if feature.kind == "binary" and coded_as(feature) is None else None
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
    codes: tuple[str, ...] | None  # a coded feature's codes as written: the value is the code's position
    unit_text: str  # the unit without a trailing parenthesis: 'alleles (0-2)' -> 'alleles'
    suffix: str  # what follows the number: ' mg/dL', ' (score 0-10)', or '' for a feature without a unit

    @classmethod
    def of(cls, feature: ArtifactFeature) -> FeatureText:
        unit_text = _PARENTHESIS.sub("", feature.unit)
        # 'score 0-10 (10 = best)' -> '6.5 (score 0-10)'; else '190 mg/dL', stripped as the whole text once was
        suffix = f" ({unit_text})" if unit_text.startswith("score") else f" {unit_text}".rstrip()
        return cls(name=feature.name, display_name=feature.display_name, unit=feature.unit, source=feature.source,
                   concept=concept_of(feature), kind=feature.kind, labels=binary_labels(feature),
                   codes=coded_as(feature), unit_text=unit_text, suffix=suffix)

    def text(self, value: float | None) -> str:
        """'190 mg/dL', 'yes', 'male', 'not recorded': the value as it reads in a sentence."""
        if value is None or math.isnan(value):
            return NOT_RECORDED
        if self.codes is not None:
            return self.codes[int(value)] if float(value).is_integer() and 0 <= value < len(self.codes) else "?"
        if self.labels:
            return self.labels[0] if value == 1 else self.labels[1]
        return number_text(value) + self.suffix

    def part(self, concept: str, text: str, single: bool) -> str:
        """This feature's words in its concept's sentence: 'LDL cholesterol 190 mg/dL', 'Current smoker: yes',
        'Sex: male' (alone) or 'male' (beside other features of the concept)."""
        if text == NOT_RECORDED:
            return f"{self.display_name} {NOT_RECORDED}"
        if self.kind == "categorical":
            return f"{self.display_name}: {text}"
        if self.kind != "binary":
            return f"{self.display_name} {text}"
        if text in ("yes", "no"):
            return f"{self.display_name}: {text}"
        return f"{concept}: {text}" if single else text  # a labelled binary such as sex: 'male'



def value_text(feature: ArtifactFeature, value: float | None) -> str:
    """'190 mg/dL', 'yes', 'male', 'not recorded': the value as it reads in a sentence."""
    return FeatureText.of(feature).text(value)


def number_text(value: float) -> str:
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


