"""Scoring a treatment-effect ensemble: an S-learner booster and its bootstrap copies, read from bundle files.

Training fits the ensemble (``training.treatment``); serving and training both score it through this
class, so the served answer is the evaluated one. Everything is UBJ boosters + one JSON: no code is
deserialised. The interval half-width is z * sqrt((k sd)^2 + c^2), where sd is the bootstrap spread and
(k, c) = (1, 0) unless a calibration chose them (``training.treatment``); with more than two arms each
compared arm has its own indicator column and its own (k, c).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import xgboost as xgb

OutcomeKind = Literal["binary", "continuous", "time_to_event"]
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
        objective = {"binary": "binary:logistic", "continuous": "reg:squarederror",
                     "time_to_event": "survival:cox"}[outcome]
        return {"objective": objective, "max_depth": self.max_depth, "eta": self.eta, "subsample": self.subsample,
                "min_child_weight": self.min_child_weight, "nthread": self.nthread, "seed": seed,
                "tree_method": "hist"}


@dataclass(frozen=True)
class EffectPrediction:
    """Per patient: outcome under the reference and one compared arm (risk for binary outcomes, risk by the horizon
    for time-to-event ones), effect = compared - reference, 95% interval."""

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
    n_arms: int = 2  # the reference (arm 0) and n_arms - 1 compared arms, one indicator column each
    horizon_days: float | None = None  # time-to-event: outcomes are risks by this day
    horizon_hazards: list[float] = field(default_factory=list)  # per booster: Breslow H0 at the horizon
    interval_ks: list[float] = field(default_factory=list)  # per compared arm (empty: interval_k for every arm)
    interval_cs: list[float] = field(default_factory=list)

    def arm_outcomes(self, X: np.ndarray) -> np.ndarray:
        """(boosters, n_arms, n): each booster's predicted outcome under every arm (a time-to-event outcome as
        the risk by the horizon, from the booster's own Breslow baseline)."""
        every = _every_arm(X, self.n_arms, self.params.nthread)  # built once, scored by every booster
        if self.outcome != "time_to_event":
            return np.stack([b.predict(every).reshape(self.n_arms, len(X)) for b in self.boosters_])
        margins = [b.predict(every, output_margin=True).astype(np.float64) for b in self.boosters_]
        return np.stack([-np.expm1(-h * np.exp(np.clip(m, -50, 50))).reshape(self.n_arms, len(X))
                         for h, m in zip(self.horizon_hazards, margins, strict=True)])

    def interval_terms(self, arm: int) -> tuple[float, float]:
        """(k, c) of compared arm ``arm`` (1-based, as the design's arm index)."""
        if self.interval_ks:
            return self.interval_ks[arm - 1], self.interval_cs[arm - 1]
        return self.interval_k, self.interval_c

    def predict(self, X: np.ndarray, arm: int = 1) -> EffectPrediction:
        """Compared arm ``arm`` (1 .. n_arms - 1) against the reference (arm 0)."""
        return self.predict_from(self.arm_outcomes(X).astype(np.float64), arm)

    def predict_from(self, outcomes: np.ndarray, arm: int) -> EffectPrediction:
        """``predict`` from ``arm_outcomes`` already computed (every compared arm from one scoring pass)."""
        effects = outcomes[:, arm] - outcomes[:, 0]
        n = outcomes.shape[2]
        sd = effects[1:].std(axis=0, ddof=1) if len(effects) > 2 else np.zeros(n)
        k, c = self.interval_terms(arm)
        half = Z95 * np.sqrt((k * sd) ** 2 + c ** 2)
        return EffectPrediction(outcomes[0, 0], outcomes[0, arm], effects[0], effects[0] - half, effects[0] + half,
                                sd)

    def effect_contributions(self, X: np.ndarray, arm: int = 1) -> np.ndarray:
        """(n, p + n_arms): exact TreeSHAP of the full-data booster under arm ``arm`` minus under the reference.

        Columns: the features, the arm indicator columns, the bias (always 0). Rows add up to the effect on the
        margin scale: log-odds ratio for a binary outcome, outcome units for a continuous one, log hazard ratio
        for a time-to-event one.
        """
        n = len(X)
        contribs = self.boosters_[0].predict(_every_arm(X, self.n_arms, self.params.nthread), pred_contribs=True)
        return contribs[arm * n:(arm + 1) * n].astype(np.float64) - contribs[:n].astype(np.float64)

    def save(self, folder: Path) -> list[Path]:
        """Boosters as UBJ plus one JSON of everything else; returns the files written."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for i, booster in enumerate(self.boosters_):
            path = folder / booster_file(i)
            booster.save_model(str(path))
            paths.append(path)
        meta = {"feature_names": self.feature_names, "outcome": self.outcome, "params": asdict(self.params),
                "interval_k": self.interval_k, "interval_c": self.interval_c, "n_boosters": len(self.boosters_),
                "n_arms": self.n_arms, "horizon_days": self.horizon_days, "horizon_hazards": self.horizon_hazards,
                "interval_ks": self.interval_ks, "interval_cs": self.interval_cs}
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
                   interval_c=meta["interval_c"], boosters_=boosters, n_arms=meta.get("n_arms", 2),
                   horizon_days=meta.get("horizon_days"), horizon_hazards=meta.get("horizon_hazards", []),
                   interval_ks=meta.get("interval_ks", []), interval_cs=meta.get("interval_cs", []))

    @classmethod
    def load(cls, folder: Path) -> EffectEnsemble:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        names = [META_FILE, *(booster_file(i) for i in range(meta["n_boosters"]))]
        return cls.from_files({name: (folder / name).read_bytes() for name in names})


def booster_file(i: int) -> str:
    return f"effect_booster_{i:02d}.ubj"


def _every_arm(X: np.ndarray, n_arms: int, nthread: int) -> xgb.DMatrix:
    """Every row under arm 0, then every row under arm 1, ... (one DMatrix: building it is most of the cost)."""
    design = np.vstack([s_learner_design(X, np.full(len(X), arm), n_arms) for arm in range(n_arms)])
    return xgb.DMatrix(design, missing=np.nan, nthread=nthread)


def s_learner_design(X: np.ndarray, arm: np.ndarray, n_arms: int = 2) -> np.ndarray:
    """Features then one indicator per compared arm (arm 0, the reference, is all zeros): the S-learner's input.
    With two arms that is the single treatment indicator (1 = the compared arm)."""
    arm = np.asarray(arm)
    indicators = [(arm == a).astype(np.float64) for a in range(1, n_arms)]
    return np.column_stack([np.asarray(X, dtype=np.float64), *indicators])
