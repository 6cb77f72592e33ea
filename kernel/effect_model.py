"""Scoring a treatment-effect ensemble: an S-learner booster and its bootstrap copies, read from bundle files.

Training fits the ensemble (``training.treatment``); serving and training both score it through this
class, so the served answer is the evaluated one. Everything is UBJ boosters + one JSON: no code is
deserialised. The interval half-width is z * sqrt((k sd)^2 + c^2), where sd is the bootstrap spread and
(k, c) = (1, 0) unless a calibration with known effects chose them (``training.treatment_effect``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import xgboost as xgb

OutcomeKind = Literal["binary", "continuous"]
META_FILE = "treatment_effect.json"
Z95 = 1.959963984540054


@dataclass(frozen=True)
class LearnerParams:
    max_depth: int = 3
    eta: float = 0.05
    rounds: int = 300
    subsample: float = 0.8
    min_child_weight: float = 20.0
    n_bootstrap: int = 25
    seed: int = 0
    nthread: int = 1

    def xgb_params(self, outcome: OutcomeKind, seed: int) -> dict[str, object]:
        objective = "binary:logistic" if outcome == "binary" else "reg:squarederror"
        return {"objective": objective, "max_depth": self.max_depth, "eta": self.eta, "subsample": self.subsample,
                "min_child_weight": self.min_child_weight, "nthread": self.nthread, "seed": seed,
                "tree_method": "hist"}


@dataclass(frozen=True)
class EffectPrediction:
    """Per patient: outcome under each arm (risk for binary outcomes), effect = arm 1 - arm 0, 95% interval."""

    outcome_reference: np.ndarray
    outcome_treated: np.ndarray
    effect: np.ndarray
    low: np.ndarray
    high: np.ndarray
    bootstrap_sd: np.ndarray


@dataclass
class EffectEnsemble:
    feature_names: list[str]
    outcome: OutcomeKind = "binary"
    params: LearnerParams = field(default_factory=LearnerParams)
    interval_k: float = 1.0  # multiplies the bootstrap SD
    interval_c: float = 0.0  # bias floor, in effect units
    boosters_: list[xgb.Booster] = field(default_factory=list)  # [0] fitted on all rows, then bootstraps

    def arm_outcomes(self, X: np.ndarray) -> np.ndarray:
        """(boosters, 2, n): each booster's predicted outcome under arm 0 and arm 1."""
        both = _both_arms(X, self.params.nthread)  # built once, scored by every booster
        return np.stack([b.predict(both).reshape(2, len(X)) for b in self.boosters_])

    def predict(self, X: np.ndarray) -> EffectPrediction:
        outcomes = self.arm_outcomes(X).astype(np.float64)
        effects = outcomes[:, 1] - outcomes[:, 0]
        sd = effects[1:].std(axis=0, ddof=1) if len(effects) > 2 else np.zeros(len(X))
        half = Z95 * np.sqrt((self.interval_k * sd) ** 2 + self.interval_c ** 2)
        return EffectPrediction(outcomes[0, 0], outcomes[0, 1], effects[0], effects[0] - half, effects[0] + half, sd)

    def effect_contributions(self, X: np.ndarray) -> np.ndarray:
        """(n, p + 2): exact TreeSHAP of the full-data booster under arm 1 minus under arm 0.

        Columns: the features, the treatment column, the bias (always 0). Rows add up to the effect on the
        margin scale: log-odds ratio for a binary outcome, outcome units for a continuous one.
        """
        contribs = self.boosters_[0].predict(_both_arms(X, self.params.nthread), pred_contribs=True)
        return contribs[len(X):].astype(np.float64) - contribs[: len(X)].astype(np.float64)

    def save(self, folder: Path) -> list[Path]:
        """Boosters as UBJ plus one JSON of everything else; returns the files written."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, booster in enumerate(self.boosters_):
            path = folder / booster_file(i)
            booster.save_model(str(path))
            paths.append(path)
        meta = {"feature_names": self.feature_names, "outcome": self.outcome, "params": asdict(self.params),
                "interval_k": self.interval_k, "interval_c": self.interval_c, "n_boosters": len(self.boosters_)}
        (folder / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return [*paths, folder / META_FILE]

    @classmethod
    def from_files(cls, files: dict[str, bytes], nthread: int = 1) -> EffectEnsemble:
        """Load from file contents by name (as a verified bundle holds them); no code is deserialised."""
        meta = json.loads(files[META_FILE])
        boosters = []
        for i in range(meta["n_boosters"]):
            booster = xgb.Booster(params={"nthread": nthread})
            booster.load_model(bytearray(files[booster_file(i)]))
            boosters.append(booster)
        return cls(feature_names=meta["feature_names"], outcome=meta["outcome"],
                   params=LearnerParams(**meta["params"]), interval_k=meta["interval_k"],
                   interval_c=meta["interval_c"], boosters_=boosters)

    @classmethod
    def load(cls, folder: Path) -> EffectEnsemble:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        names = [META_FILE, *(booster_file(i) for i in range(meta["n_boosters"]))]
        return cls.from_files({name: (folder / name).read_bytes() for name in names})


def booster_file(i: int) -> str:
    return f"effect_booster_{i:02d}.ubj"


def _both_arms(X: np.ndarray, nthread: int) -> xgb.DMatrix:
    """Every row under arm 0, then every row under arm 1 (one DMatrix: building it is most of the cost)."""
    design = np.vstack([s_learner_design(X, np.zeros(len(X))), s_learner_design(X, np.ones(len(X)))])
    return xgb.DMatrix(design, missing=np.nan, nthread=nthread)


def s_learner_design(X: np.ndarray, treated: np.ndarray) -> np.ndarray:
    """Features then the treatment indicator: the S-learner's input."""
    return np.column_stack([np.asarray(X, dtype=np.float64), np.asarray(treated, dtype=np.float64)])
