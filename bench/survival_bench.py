"""Issue-12 acceptance at scale: survival ``cad_risk`` against the oracle, the binary model that drops the
censored, and ``survival:aft`` against ``survival:cox``, all on the same test patients of one split.

    pmed simulate --patients 100000 --out /tmp/c100k/raw
    pmed features build --raw /tmp/c100k/raw --out /tmp/c100k/features
    python bench/survival_bench.py --features /tmp/c100k/features

Prints, per model: Harrell's C, Kaplan-Meier observed / mean predicted risk at the horizon (O/E, with a bootstrap
95% CI), and the fit time. The oracle is the simulator's true 10-year risk. The binary model is
tests/specs/cad_risk_binary.yaml (the spec cad_risk had before issue 12) fitted on the same training patients
minus those censored before 10 years, as the risk task must; its O/E on the test patients it could label
(the censored dropped again) is printed too, the number its own evaluation would have shown.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import xgboost as xgb
from scipy.stats import norm

from training.fit import booster_params
from training.spec import ModelSpec, load_spec
from training.split import Split
from training.survival import metrics as m
from training.survival.baselines import naive_binary
from training.survival.fit import SurvivalData, fit_survival, load_survival_folder, split_survival
from training.survival.parts import SurvivalPart
from training.survival.task import survival_part

REPO = Path(__file__).resolve().parents[1]
AFT = {"normal": 1.0, "extreme": 0.8}  # distribution of log time -> scale (extreme = a Weibull time)


def oe_with_ci(y: np.ndarray, risk: np.ndarray, horizon: float, seed: int = 0) -> str:
    low, high = m.bootstrap_ci(lambda r: m.observed_expected(y[r], risk[r], horizon), len(y), 200, seed)
    return f"{m.observed_expected(y, risk, horizon):.3f} ({low:.3f}-{high:.3f})"


def aft_risk(survival: SurvivalData, split: Split, spec: ModelSpec, part: SurvivalPart, distribution: str,
             scale: float) -> tuple[np.ndarray, np.ndarray, float]:
    """XGBoost ``survival:aft``: (score = -log predicted time, risk at the horizon, fit seconds)."""
    X, time_, event = survival.data.X, survival.time, survival.data.y == 1

    def matrix(rows: np.ndarray) -> xgb.DMatrix:
        d = xgb.DMatrix(X[rows], missing=np.nan)
        d.set_float_info("label_lower_bound", time_[rows])
        d.set_float_info("label_upper_bound", np.where(event[rows], time_[rows], np.inf))
        return d

    # the AFT margin is log TIME: a feature that raises the risk must lower it, so the constraints flip sign (kept
    # as they are, they force every clinical effect backwards: C 0.67 instead of 0.79)
    flipped = tuple(-spec.monotone_constraints.get(name, 0) for name in spec.features)
    params = {**booster_params(spec), "objective": "survival:aft", "eval_metric": "aft-nloglik",
              "aft_loss_distribution": distribution, "aft_loss_distribution_scale": scale,
              "monotone_constraints": str(flipped), "base_score": float(np.log(np.median(time_[split.train])))}
    start = time.perf_counter()
    booster = xgb.train(params, matrix(split.train), num_boost_round=spec.xgboost.n_estimators,
                        evals=[(matrix(split.validation), "validation")],
                        early_stopping_rounds=spec.xgboost.early_stopping_rounds, verbose_eval=False)
    seconds = time.perf_counter() - start
    log_time = booster.predict(xgb.DMatrix(X[split.test], missing=np.nan),
                               output_margin=True, iteration_range=(0, booster.best_iteration + 1))
    z = (np.log(part.horizon_days) - log_time) / scale
    risk = norm.cdf(z) if distribution == "normal" else -np.expm1(-np.exp(z))
    return -log_time, risk, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--spec", type=Path, default=REPO / "models" / "cad_risk.yaml")
    parser.add_argument("--binary-spec", type=Path, default=REPO / "tests" / "specs" / "cad_risk_binary.yaml")
    args = parser.parse_args()
    spec = load_spec(args.spec)
    part = survival_part(spec)
    horizon = part.horizon_days
    survival = load_survival_folder(args.features, spec, part)
    split = split_survival(spec, survival, horizon)
    y_test = survival.surv(split.test)
    print(f"{len(survival.time)} patients at risk, {int(survival.data.y.sum())} events; test {len(split.test)} "
          f"({int(y_test['event'].sum())} events, {int((~y_test['event'] & (y_test['time'] < horizon)).sum())} "
          f"censored before the horizon); KM risk at the horizon {m.km_risk(y_test, horizon):.4f}")
    truth = survival.data.cohort[f"true_risk_{spec.target}"].to_numpy()[split.test]
    print(f"oracle                 C {m.harrell_c(y_test, truth):.4f}  O/E {oe_with_ci(y_test, truth, horizon)}")

    start = time.perf_counter()
    fitted = fit_survival(spec, part, survival, split)
    seconds = time.perf_counter() - start
    margin = fitted.margin(survival.data.X[split.test])
    risk = fitted.risk(survival.data.X[split.test])
    print(f"survival:cox (served)  C {m.harrell_c(y_test, margin):.4f}  O/E {oe_with_ci(y_test, risk, horizon)}  "
          f"fit {seconds:.1f} s, {fitted.best_iteration + 1} trees, slope {fitted.calibrator.to_dict()['slope']:.3f}")

    for distribution, scale in AFT.items():
        score, aft, aft_seconds = aft_risk(survival, split, spec, part, distribution, scale)
        print(f"survival:aft {distribution:7s}   C {m.harrell_c(y_test, score):.4f}  "
              f"O/E {oe_with_ci(y_test, aft, horizon)}  fit {aft_seconds:.1f} s (scale {scale}, not recalibrated)")

    binary_spec = load_spec(args.binary_spec)
    start = time.perf_counter()
    naive = naive_binary(binary_spec, survival, split, horizon)
    seconds = time.perf_counter() - start
    labelled = y_test["event"] & (y_test["time"] <= horizon) | (y_test["time"] >= horizon)
    own = (y_test["event"] & (y_test["time"] <= horizon))[labelled].mean() / naive.risk[labelled].mean()
    print(f"binary, censored dropped C {m.harrell_c(y_test, naive.score):.4f}  "
          f"O/E {oe_with_ci(y_test, naive.risk, horizon)}"
          f"  fit {seconds:.1f} s; on the {int(labelled.sum())} test patients it can label, its own O/E {own:.3f}")


if __name__ == "__main__":
    main()
