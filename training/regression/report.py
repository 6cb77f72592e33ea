"""Site-held-out evaluation of a dose model against the published dosing algorithms, as plain data.

Every site is held out once (``split.folds`` folds of whole sites). In each fold the model is fitted on
the other sites only, and it and every baseline predict the held-out patients; the pooled out-of-fold
predictions give one comparison over all patients, reported also by fold, race group and dose band.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from kernel.formulas.iwpc import iwpc_dose
from training.fit import TrainingData
from training.regression.baselines import baseline_doses, refit_iwpc_form
from training.regression.evaluate import HEADLINE, evaluate_dose, interval_metrics, paired_difference
from training.regression.fit import dose_settings, fit_dose_model
from training.spec import ModelSpec
from training.split import Split, site_folds

MODEL = "model"
REFERENCE = "iwpc_pharmacogenetic"
Progress = Callable[[str], None]


@dataclass
class DoseEvaluation:
    metrics: dict[str, float]
    report: dict[str, Any]
    predictions: pd.DataFrame = field(default_factory=pd.DataFrame)  # out-of-fold, one row per patient


def evaluate_by_site(spec: ModelSpec, data: TrainingData, progress: Progress = lambda _: None) -> DoseEvaluation:
    """Fit per fold, predict the held-out sites, then summarise pooled, per fold, per race and per dose band."""
    folds = site_folds(data.keys, data.cohort, spec.split, spec.seed)
    parts = []
    for number, split in enumerate(folds, start=1):
        part = _predict_fold(spec, data, split)
        part["fold"] = number
        parts.append(part)
        sites = sorted(part["site"].unique())
        progress(f"fold {number}/{len(folds)}: held out {', '.join(sites)} ({len(split.test)} patients); "
                 f"model MAE {_mae(part, MODEL):.2f} vs IWPC pharmacogenetic {_mae(part, REFERENCE):.2f} mg/week")
    oof = pd.concat(parts, ignore_index=True)
    return summarise(spec, oof)


def _predict_fold(spec: ModelSpec, data: TrainingData, split: Split) -> pd.DataFrame:
    fitted = fit_dose_model(spec, data, split)
    test = data.source.iloc[split.test]
    margin = fitted.margin(data.X[split.test])
    low, high = fitted.calibrator.interval(margin)
    predicted = {MODEL: fitted.calibrator.predict(margin), **_baselines(spec, data, split)}
    site_column = spec.split.site_column
    frame = pd.DataFrame({"site": test[site_column].astype(str).to_numpy(), "dose": data.y[split.test],
                          "interval_low": low, "interval_high": high,
                          "race_group": _column(test, "race_group"), **predicted})
    return frame


def _baselines(spec: ModelSpec, data: TrainingData, split: Split) -> dict[str, np.ndarray]:
    wanted = [b for b in spec.baselines if b in ("iwpc_pharmacogenetic", "iwpc_clinical", "fixed_35mg_week",
                                                  "iwpc_form_refit")]
    test = data.source.iloc[split.test]
    published = baseline_doses(test)
    out = {name: published[name] for name in wanted if name in published}
    if "iwpc_form_refit" in wanted:
        seen = np.concatenate([split.train, split.validation])
        coefficients = refit_iwpc_form(data.source.iloc[seen], data.y[seen])
        out["iwpc_form_refit"] = iwpc_dose(test, coefficients)
    return out


def summarise(spec: ModelSpec, oof: pd.DataFrame) -> DoseEvaluation:
    """Metrics (flat, for MLflow) and the report (nested, for the card) from out-of-fold predictions."""
    n_boot, seed = spec.bootstrap_samples, spec.seed
    predictors = [c for c in oof.columns if c == MODEL or c in spec.baselines]
    low, high = dose_settings(spec).bands
    band = np.select([oof["dose"] <= low, oof["dose"] >= high], [f"low (<={low:g})", f"high (>={high:g})"],
                     "intermediate")
    slices = {"pooled": {"all": np.ones(len(oof), dtype=bool)},
              "fold": {str(f): (oof["fold"] == f).to_numpy() for f in sorted(oof["fold"].unique())},
              "race": {str(r): (oof["race_group"] == r).to_numpy() for r in sorted(oof["race_group"].unique())},
              "dose_band": {b: band == b for b in (f"low (<={low:g})", "intermediate", f"high (>={high:g})")}}
    table: dict[str, dict[str, dict[str, dict[str, float]]]] = {}
    for kind, levels in slices.items():
        boots = n_boot if kind == "pooled" else max(n_boot // 2, 10)
        table[kind] = {level: {name: evaluate_dose(oof["dose"].to_numpy()[mask], oof[name].to_numpy()[mask], seed,
                                                   boots) for name in predictors}
                       for level, mask in levels.items() if mask.any()}
        for level, mask in levels.items():
            if mask.any():
                table[kind][level][MODEL].update(interval_metrics(
                    oof["dose"].to_numpy()[mask], oof["interval_low"].to_numpy()[mask],
                    oof["interval_high"].to_numpy()[mask]))
    y, model = oof["dose"].to_numpy(), oof[MODEL].to_numpy()
    versus = (paired_difference(y, model, oof[REFERENCE].to_numpy(), seed, n_boot) if REFERENCE in oof else {})
    sites = {str(f): sorted(oof.loc[oof["fold"] == f, "site"].unique()) for f in sorted(oof["fold"].unique())}
    report = {"table": table, "versus_iwpc_pharmacogenetic": versus, "fold_sites": sites, "predictors": predictors,
              "n_patients": len(oof), "n_sites": int(oof["site"].nunique())}
    return DoseEvaluation(metrics=_flat(table, versus), report=report, predictions=oof)


def _flat(table: dict[str, Any], versus: dict[str, float]) -> dict[str, float]:
    """``mae``, ``iwpc_clinical.pw20``, ``fold_2.mae``, ``race.Asian.iwpc_pharmacogenetic.mae``, ..."""
    metrics: dict[str, float] = {}
    keep = (*HEADLINE, "n", "interval_coverage", "interval_median_width")
    for kind, levels in table.items():
        for level, by_predictor in levels.items():
            prefix = "" if kind == "pooled" else (f"fold_{level}." if kind == "fold" else f"{kind}.{level}.")
            for name, values in by_predictor.items():
                head = prefix + ("" if name == MODEL else f"{name}.")
                cis = kind == "pooled"
                metrics.update({head + k: v for k, v in values.items()
                                if k in keep or (cis and k.rsplit("_ci_", 1)[0] in HEADLINE)})
    metrics.update({f"vs_iwpc_pharmacogenetic.{k}": v for k, v in versus.items()})
    return metrics


def _mae(part: pd.DataFrame, name: str) -> float:
    return float(np.mean(np.abs(part[name] - part["dose"]))) if name in part else float("nan")


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    return frame[name].astype(str).to_numpy() if name in frame else np.full(len(frame), "all")


def comparison_lines(report: dict[str, Any]) -> list[str]:
    """The comparison table as text lines (the command prints them; the card renders the same numbers)."""
    names = report["predictors"]
    lines = [f"{'slice':28}" + "".join(f"{n:>26}" for n in names), f"{'':28}" + f"{'MAE / PW20%':>26}" * len(names)]
    for kind, levels in report["table"].items():
        for level, by_predictor in levels.items():
            n = int(by_predictor[MODEL]["n"])
            label = f"{kind} {level}".replace("pooled all", "pooled (all sites)") + f" (n={n})"
            lines.append(f"{label:28}" + "".join(
                f"{by_predictor[p]['mae']:>14.2f} / {by_predictor[p]['pw20']:5.1f}%  " for p in names))
    return lines
