"""The one definition of every model feature.

Training selects columns by these names, the serving layer builds its request schema and range checks
from them, explanations take their labels and units from them, and the docs list them. Nothing else
re-lists features by hand: add a feature here, derive it in the feature pipeline, and it is available
to every model spec.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from kernel.values import code_text

Source = Literal["demographic", "ehr", "lifestyle", "genetic", "trial", "other"]
Kind = Literal["continuous", "count", "binary", "categorical"]


class Feature(BaseModel):
    """A patient-level variable as the model sees it (one value per patient at the index date).

    A ``categorical`` feature takes one of its ``levels`` as written in the table (text such as ``adeno`` or
    numeric codes such as 1-4); the model sees the level's position (0, 1, ...), so its range is 0 to the number
    of levels less one and it needs no unit. A ``binary`` feature is 0/1 unless it declares two ``codes`` as
    written in the table (``[standard, test]``, ``[1, 2]``): the first reads 0, the second 1. The value rules
    themselves (range, whole number, code membership) are ``kernel.values``: training and serving share them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    display_name: str
    unit: str
    source: Source
    kind: Kind
    min: float
    max: float
    concept: str
    derivation: str
    required: bool = False
    loinc: str | None = None
    modifiable: bool = False  # a factor a patient can change: what-if re-scores only these
    levels: tuple[str, ...] | None = None  # categorical: the levels as written in the table
    codes: tuple[str, str] | None = None  # binary: the two codes as written (first = 0); None = 0 and 1

    @model_validator(mode="before")
    @classmethod
    def _coded_defaults(cls, raw: Any) -> Any:
        """A categorical's range is its level positions and a binary's is 0..1; neither needs a unit."""
        if not isinstance(raw, dict) or raw.get("kind") not in ("categorical", "binary"):
            return raw
        filled = {"unit": "", "min": 0, "max": 1, **raw}
        levels = raw.get("levels")
        if raw["kind"] == "categorical" and isinstance(levels, (list, tuple)):
            for bound, value in (("min", 0), ("max", len(levels) - 1)):
                if bound in raw and raw[bound] != value:
                    raise ValueError(f"feature {raw.get('name')}: a categorical feature takes levels, not {bound}")
                filled[bound] = value
        return filled

    @field_validator("levels", "codes", mode="before")
    @classmethod
    def _as_written(cls, raw: Any) -> Any:
        """Codes compare as text: ``1``, ``1.0`` and ``"1"`` are the same code (``kernel.values.code_text``)."""
        if not isinstance(raw, (list, tuple)):
            return raw
        texts = [code_text(v) for v in raw]
        if any(t is None for t in texts):
            raise ValueError("a code may not be empty")
        if len(set(texts)) != len(texts):
            raise ValueError("codes are listed more than once")
        return tuple(texts)

    @model_validator(mode="after")
    def _range_is_ordered(self) -> Feature:
        if self.kind == "categorical" and (self.levels is None or len(self.levels) < 2):
            raise ValueError(f"feature {self.name}: a categorical feature needs levels (two or more)")
        if self.min >= self.max:
            raise ValueError(f"feature {self.name}: min must be below max")
        if self.kind == "binary" and (self.min, self.max) != (0, 1):
            raise ValueError(f"feature {self.name}: a binary feature ranges over 0..1")
        if self.levels is not None and self.kind != "categorical":
            raise ValueError(f"feature {self.name}: levels apply to a categorical feature")
        if self.codes is not None and self.kind != "binary":
            raise ValueError(f"feature {self.name}: codes apply to a binary feature")
        return self


    def public(self) -> dict[str, object]:
        """The fields a client needs to build a request (no derivation internals)."""
        return self.model_dump(exclude={"derivation"})


_LOOKBACK = "most recent value in the 3 years before the index date (never after it)"

FEATURES: tuple[Feature, ...] = (
    Feature(name="age_years", display_name="Age", unit="years", source="demographic", kind="continuous",
            min=18, max=100, concept="Age", required=True,
            derivation="whole years from birth date to index date (patients file)"),
    Feature(name="sex_male", display_name="Male sex", unit="1 = male, 0 = female", source="demographic",
            kind="binary", min=0, max=1, concept="Sex", required=True,
            derivation="administrative sex recorded in the patients file"),
    Feature(name="ldl_mg_dl", display_name="LDL cholesterol", unit="mg/dL", source="ehr", kind="continuous",
            min=20, max=400, concept="LDL cholesterol", loinc="18262-6", modifiable=True,
            derivation=_LOOKBACK),
    Feature(name="hdl_mg_dl", display_name="HDL cholesterol", unit="mg/dL", source="ehr", kind="continuous",
            min=10, max=150, concept="HDL cholesterol", loinc="2085-9", derivation=_LOOKBACK),
    Feature(name="total_cholesterol_mg_dl", display_name="Total cholesterol", unit="mg/dL", source="ehr",
            kind="continuous", min=70, max=500, concept="Total cholesterol", loinc="2093-3",
            derivation=_LOOKBACK),
    Feature(name="hba1c_pct", display_name="HbA1c", unit="%", source="ehr", kind="continuous",
            min=3.5, max=18, concept="Glycaemic control (HbA1c)", loinc="4548-4", modifiable=True,
            derivation=_LOOKBACK),
    Feature(name="sbp_mm_hg", display_name="Systolic blood pressure", unit="mmHg", source="ehr",
            kind="continuous", min=70, max=260, concept="Blood pressure", loinc="8480-6",
            modifiable=True, derivation=_LOOKBACK),
    Feature(name="bmi_kg_m2", display_name="Body-mass index", unit="kg/m2", source="ehr", kind="continuous",
            min=12, max=80, concept="Body-mass index", loinc="39156-5", derivation=_LOOKBACK),
    Feature(name="hypertension_dx", display_name="Hypertension diagnosis", unit="1 = yes, 0 = no",
            source="ehr", kind="binary", min=0, max=1, concept="Hypertension",
            derivation="any ICD-10-CM I10-I16 diagnosis dated on or before the index date"),
    Feature(name="t2d_dx", display_name="Type 2 diabetes diagnosis", unit="1 = yes, 0 = no", source="ehr",
            kind="binary", min=0, max=1, concept="Type 2 diabetes",
            derivation="any ICD-10-CM E11 diagnosis dated on or before the index date"),
    Feature(name="statin_rx", display_name="On a statin", unit="1 = yes, 0 = no", source="ehr",
            kind="binary", min=0, max=1, concept="Lipid-lowering therapy",
            derivation="a statin (RxNorm ingredient) prescription active at the index date"),
    Feature(name="antihypertensive_rx", display_name="On blood-pressure medication", unit="1 = yes, 0 = no",
            source="ehr", kind="binary", min=0, max=1, concept="Blood pressure",
            derivation="an antihypertensive (RxNorm ingredient) prescription active at the index date"),
    Feature(name="current_smoker", display_name="Current smoker", unit="1 = yes, 0 = no",
            source="lifestyle", kind="binary", min=0, max=1, concept="Smoking",
            modifiable=True, derivation="questionnaire smoking status is 'current'"),
    Feature(name="pack_years", display_name="Smoking history", unit="pack-years", source="lifestyle",
            kind="continuous", min=0, max=200, concept="Smoking",
            modifiable=True, derivation="questionnaire pack-years (0 for never smokers)"),
    Feature(name="physical_activity_min_wk", display_name="Physical activity", unit="min/week",
            source="lifestyle", kind="continuous", min=0, max=3000, concept="Physical activity",
            derivation="questionnaire moderate-to-vigorous activity, minutes per week"),
    Feature(name="alcohol_units_wk", display_name="Alcohol", unit="units/week", source="lifestyle",
            kind="continuous", min=0, max=200, concept="Alcohol",
            derivation="questionnaire alcohol units per week"),
    Feature(name="diet_quality_score", display_name="Diet quality", unit="score 0-10 (10 = best)",
            source="lifestyle", kind="continuous", min=0, max=10, concept="Diet",
            derivation="questionnaire diet-quality score"),
    Feature(name="sleep_hours", display_name="Sleep", unit="hours/night", source="lifestyle",
            kind="continuous", min=2, max=16, concept="Sleep", derivation="questionnaire usual sleep duration"),
    Feature(name="cad_prs_sum", display_name="Coronary artery disease polygenic score", unit="PGS units",
            source="genetic", kind="continuous", min=-100, max=100, concept="Genetic risk (CAD)",
            derivation="sum over matched variants of effect-allele dosage x effect_weight, from the "
                       "CAD scoring file (PGS Catalog format) and the patient's VCF genotypes"),
    Feature(name="t2d_prs_sum", display_name="Type 2 diabetes polygenic score", unit="PGS units",
            source="genetic", kind="continuous", min=-100, max=100, concept="Genetic risk (T2D)",
            derivation="sum over matched variants of effect-allele dosage x effect_weight, from the "
                       "T2D scoring file (PGS Catalog format) and the patient's VCF genotypes"),
    Feature(name="cyp2c19_no_function_alleles", display_name="CYP2C19 no-function alleles",
            unit="alleles (0-2)", source="genetic", kind="count", min=0, max=2,
            concept="CYP2C19 metabolizer status",
            derivation="copies of CYP2C19*2 (rs4244285 A) or *3 (rs4986893 A) in the VCF"),
    Feature(name="cyp2c9_decreased_function_alleles", display_name="CYP2C9 decreased-function alleles",
            unit="alleles (0-2)", source="genetic", kind="count", min=0, max=2,
            concept="CYP2C9 metabolizer status",
            derivation="copies of CYP2C9*2 (rs1799853 T) or *3 (rs1057910 C) in the VCF"),
    Feature(name="vkorc1_1639a_alleles", display_name="VKORC1 -1639A alleles", unit="alleles (0-2)",
            source="genetic", kind="count", min=0, max=2, concept="VKORC1 warfarin sensitivity",
            derivation="copies of the VKORC1 -1639G>A A allele (rs9923231 T on the + strand) in the VCF"),
)

REGISTRY: dict[str, Feature] = {f.name: f for f in FEATURES}


def get_features(names: list[str] | tuple[str, ...]) -> list[Feature]:
    """Look up features by name, in the order given, failing with every unknown name at once."""
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        raise KeyError(f"not in the feature registry: {', '.join(unknown)}")
    return [REGISTRY[n] for n in names]
