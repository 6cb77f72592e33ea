"""The typed contract between training and serving: what a model version's artifact says about itself.

Training writes it into the bundle (``feature_spec.json``, kept under that name so registered versions
stay readable); serving reads it back as attributes that the type checker follows, not as dict keys.
Each model kind (task) has its own artifact class, a subclass of ``Artifact`` in ``kernel/artifacts/``,
registered by its ``task`` value; ``kernel.artifacts.parse_artifact`` picks the class. A new kind adds one module there
(found by ``kernel.artifacts``), and edits nothing here.

Reading is lenient about keys it does not know (a newer writer may add some) and about the few a
bundle written before a key existed lacks (defaults below); writing is exact.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

FeatureKind = Literal["continuous", "count", "binary", "categorical"]
DEFAULT_TASK = "risk_classification"  # bundles written before the artifact named its task


class ArtifactError(ValueError):
    """An artifact names no known task or does not fit its task's contract."""


class ArtifactFeature(BaseModel):
    """One input of the model: its registry definition plus what the training data showed."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    display_name: str
    unit: str
    source: str
    kind: FeatureKind
    min: float
    max: float
    concept: str
    required: bool = False
    loinc: str | None = None
    modifiable: bool = Field(False, description="a factor a patient can change (what-if re-scores only these)")
    levels: list[str] | None = Field(None, description="categorical: the levels as written in the table; the model "
                                                       "sees a level's position (0, 1, ...)")
    codes: list[str] | None = Field(None, description="binary: the two codes as written in the table (first = 0, "
                                                      "second = 1); null: 0 and 1")
    example: float | None = Field(None, description="a typical value as the model sees it (a coded feature's "
                                                    "position; kernel.values.as_written gives the code)")
    training_min: float | None = None
    training_max: float | None = None
    training_missing_rate: float | None = None
    training_quantiles: dict[str, float] = {}
    mean_abs_shap: float | None = None


class Artifact(BaseModel):
    """What every model kind's artifact carries; a task's subclass adds its own fields."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    kinds: ClassVar[dict[str, type[Artifact]]] = {}

    task: str
    model: str
    description: str
    intended_use: str
    target: str
    horizon_years: float | None = None
    calibration: str = "sigmoid"
    decision_thresholds: list[float] = []
    max_missing_importance: float = 0.4
    # an input (almost) never missing in training, missing at prediction (``serving.flags``): abstain or warn;
    # None = a bundle written before the setting existed, answered as it was when promoted (no such check)
    missing_unseen: Literal["abstain", "warn"] | None = None
    features: list[ArtifactFeature]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        task = cls.__dict__.get("TASK")
        if task is not None:
            Artifact.kinds[task] = cls

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    def feature(self, name: str) -> ArtifactFeature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON written into the bundle: every field, unset optional ones as null."""
        return self.model_dump(mode="json")
