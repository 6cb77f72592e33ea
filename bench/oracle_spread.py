"""Issue-4 acceptance at scale: test AUROC gap to the oracle and calibration slope over several splits.

One training run is one split; this fits each model on N patient splits (the spec's seed varied) of a
simulated cohort and prints the spread, so "slope within [0.95, 1.05]" is a measured rate, not one draw.

    pmed simulate --patients 100000 --out /tmp/c100k/raw
    pmed features build --raw /tmp/c100k/raw --out /tmp/c100k/features
    python bench/oracle_spread.py --features /tmp/c100k/features --splits 10
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

from training.data import load_training_data
from training.evaluate import calibration_slope
from training.fit import fit_model
from training.spec import load_spec
from training.split import split_cohort

MODELS = Path(__file__).resolve().parents[1] / "models"


def spread(features: Path, model: str, splits: int) -> dict[str, float]:
    spec0 = load_spec(MODELS / f"{model}.yaml")
    data = load_training_data(features, spec0)
    truth = data.cohort[f"true_risk_{spec0.target}"].to_numpy()
    gaps, slopes = [], []
    for seed in range(100, 100 + splits):
        spec = spec0.model_copy(update={"seed": seed})
        split = split_cohort(data.keys, data.cohort, spec.split, seed)
        y, risk = data.y[split.test], fit_model(spec, data, split).risk(data.X[split.test])
        gaps.append(roc_auc_score(y, truth[split.test]) - roc_auc_score(y, risk))
        slopes.append(calibration_slope(y, risk))
    g, s = np.array(gaps), np.array(slopes)
    return {"patients": len(data.y), "gap_mean": g.mean(), "gap_max": g.max(), "slope_mean": s.mean(),
            "slope_sd": s.std(ddof=1), "slope_min": s.min(), "slope_max": s.max(),
            "slope_in_range": float(np.mean((s >= 0.95) & (s <= 1.05)))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, required=True, help="folder from `pmed features build`")
    parser.add_argument("--splits", type=int, default=10)
    parser.add_argument("--models", nargs="+", default=["cad_risk", "t2d_risk"])
    args = parser.parse_args()
    print("| model | patients | splits | AUROC gap to oracle, mean (max) | cal. slope mean ± sd [min, max] "
          "| splits with slope in [0.95, 1.05] |\n|---|---|---|---|---|---|")
    for model in args.models:
        r = spread(args.features, model, args.splits)
        print(f"| {model} | {r['patients']} | {args.splits} | {r['gap_mean']:.4f} ({r['gap_max']:.4f}) | "
              f"{r['slope_mean']:.3f} ± {r['slope_sd']:.3f} [{r['slope_min']:.3f}, {r['slope_max']:.3f}] | "
              f"{100 * r['slope_in_range']:.0f}% |", flush=True)


if __name__ == "__main__":
    main()
