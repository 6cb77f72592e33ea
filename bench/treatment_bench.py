"""The trial table: pmed's S-learner ensemble vs T/X/DR-learners and EconML's CausalForestDML, same data.

    .venv/bin/python bench/treatment_bench.py [--patients 20000] [--seed 1] [--seeds 5] [--forest-trees 400] [--log]

Three simulated trials with disjoint seeds: fit (N), calibrate the interval (N/2), evaluate (N/2, fresh
patients with known true effects). Fit times are single-threaded. Latency: one patient per call,
in-process, effect + interval + TreeSHAP drivers, median over 200 calls (and per patient in a batch
of 100). ``--seeds K`` repeats pmed's fit/calibrate/evaluate on K seed triples (seed, seed + 1, ...) and
prints the spread of PEHE and coverage: one draw says little about a coverage target. ``--log``
registers the seed-``seed`` model as antiplatelet_response in PMED_HOME's MLflow, with the whole table
(peers, policies, latency, seed spread) as metrics and ``reports/trial_table.json`` of that run.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from features.sim.trial import FEATURES, read_trial, read_truth, simulate_trial
from training.treatment.effect import LearnerParams, TreatmentEffectModel
from training.treatment.evaluate import effect_metrics, policy_table, standard_policies
from training.treatment.learners import dr_learner, t_learner, x_learner
from training.treatment.pipeline import fit_and_evaluate, matrix, register


def forest(X: np.ndarray, t: np.ndarray, y: np.ndarray, trees: int, binary: bool = True):  # noqa: ANN201
    """EconML CausalForestDML with XGBoost outcome nuisance, known 1:1 propensity (as in reference A2)."""
    import xgboost as xgb
    from econml.dml import CausalForestDML
    from sklearn.dummy import DummyClassifier

    nuisance = {"n_estimators": 300, "max_depth": 4, "learning_rate": 0.05, "subsample": 0.8, "n_jobs": 1}
    model = CausalForestDML(model_y=xgb.XGBClassifier(**nuisance) if binary else xgb.XGBRegressor(**nuisance),
                            model_t=DummyClassifier(strategy="prior"), discrete_treatment=True,
                            discrete_outcome=binary, cv=2, n_estimators=trees, n_jobs=1, random_state=0)
    return model.fit(y, t, X=np.nan_to_num(X, nan=-1.0))  # the forest takes no NaN: -1 = phenotype uncalled


def latency_ms(fn, repeats: int = 200) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main() -> None:
    args = _args()
    root = Path(tempfile.mkdtemp(prefix="pmed-trial-bench-"))
    dirs = {role: root / role for role in ("train", "calibration", "test")}
    sizes = ((args.patients, args.seed), (args.patients // 2, args.seed + 100), (args.patients // 2, args.seed + 200))
    for folder, (n, seed) in zip(dirs.values(), sizes, strict=True):
        simulate_trial(folder, n, seed)
    train, test, truth = read_trial(dirs["train"]), read_trial(dirs["test"]), read_truth(dirs["test"])
    X, t, y, Xt = matrix(train), train["treated"].to_numpy(), train["nace_1y"].to_numpy(), matrix(test)
    tau = truth["true_effect"].to_numpy()
    rows, policies = [], standard_policies(len(test), test["cyp2c19_phenotype"])

    start = time.perf_counter()
    outcome = fit_and_evaluate(dirs["train"], dirs["calibration"], dirs["test"], LearnerParams())
    model, fit_s = outcome.model, time.perf_counter() - start
    pred = model.predict(Xt)
    rows.append((f"pmed S-learner ensemble ({len(model.boosters_)} boosters)",
                 effect_metrics(pred.effect, tau, pred.low, pred.high), fit_s))
    policies["pmed S-learner"] = (pred.effect < 0).astype(int)
    raw = TreatmentEffectModel(model.feature_names, boosters_=model.boosters_).predict(Xt)
    rows.append(("  same, uncalibrated bootstrap interval", effect_metrics(raw.effect, tau, raw.low, raw.high), 0.0))
    for name, learner in (("T-learner", t_learner), ("X-learner", x_learner), ("DR-learner", dr_learner)):
        start = time.perf_counter()
        estimate = learner(X, t, y, LearnerParams())(Xt)
        rows.append((name, effect_metrics(estimate, tau), time.perf_counter() - start))
        policies[name] = (estimate < 0).astype(int)
    rows.append(("one effect for all (difference in means)",
                 effect_metrics(np.full(len(tau), y[t == 1].mean() - y[t == 0].mean()), tau), 0.0))
    if not args.skip_forest:
        start = time.perf_counter()
        cf = forest(X, t, y, args.forest_trees)
        fit = time.perf_counter() - start
        Xf = np.nan_to_num(Xt, nan=-1.0)
        low, high = (np.ravel(a) for a in cf.effect_interval(Xf, alpha=0.05))
        estimate = np.ravel(cf.effect(Xf))  # a binary outcome gives one column per outcome
        rows.append((f"EconML CausalForestDML ({args.forest_trees} trees)", effect_metrics(estimate, tau, low, high),
                     fit))
        policies["CausalForestDML"] = (estimate < 0).astype(int)
        cf_ms = latency_ms(lambda: (cf.effect(Xf[:1]), cf.effect_interval(Xf[:1], alpha=0.05)), 50)
    pmed_ms = latency_ms(lambda: (model.predict(Xt[:1]), model.effect_contributions(Xt[:1])))
    batch_ms = latency_ms(lambda: (model.predict(Xt[:100]), model.effect_contributions(Xt[:100])), 50) / 100
    spread = seed_spread(args, root) if args.seeds > 1 else []
    continuous = continuous_rows(args, dirs)

    print(f"\nTrial: {args.patients} train / {args.patients // 2} calibration / {args.patients // 2} test patients, "
          f"seed {args.seed}; outcome 1-year NACE; true effect SD {tau.std():.4f}; interval k {model.interval_k:.2f}, "
          f"c {model.interval_c:.4f}\n")
    print_estimators(rows, decimals=4)
    print("\n| policy | mean true 1-year risk | regret vs oracle | share given ticagrelor |\n|---|---|---|---|")
    table = policy_table(policies, truth["true_risk_clopidogrel"].to_numpy(), truth["true_risk_ticagrelor"].to_numpy())
    for row in table:
        print(f"| {row['policy']} | {row['value']:.4f} | {row['regret']:.4f} | {row['share_alternative']:.2f} |")
    print("\nThe same rules as a real trial would estimate them (no truth: each rule's patients randomised to the "
          "arm it picks), pmed's run:\n\n| policy | estimated 1-year risk (95% CI) | true |\n|---|---|---|")
    for row in outcome.policies:
        if "estimated_value" in row:
            print(f"| {row['policy']} | {row['estimated_value']:.4f} ({row['ci_low']:.4f}-{row['ci_high']:.4f}) | "
                  f"{row['true_value']:.4f} |")
    m = outcome.metrics
    print(f"\nEffect-ranking slope (best linear predictor) on the test trial: {m['blp_slope']:.2f} "
          f"(95% CI {m['blp_slope_ci_low']:.2f} to {m['blp_slope_ci_high']:.2f}; 1 = effects right in size)")
    latency = {"pmed_ms_per_patient_one_row": pmed_ms, "pmed_ms_per_patient_batch_100": batch_ms,
               "load_average": os.getloadavg()[0], "cores": os.cpu_count()}
    if not args.skip_forest:
        latency["causal_forest_dml_ms_one_row"] = cf_ms
    print(f"\nLatency per patient, in-process (effect + interval + drivers), load average "
          f"{latency['load_average']:.1f} on {os.cpu_count()} cores: pmed {pmed_ms:.1f} ms one patient per call, "
          f"{batch_ms:.2f} ms in batches of 100" + ("" if args.skip_forest else f"; CausalForestDML effect + interval "
                                                                                f"{cf_ms:.1f} ms one patient per call"))
    print("\nContinuous variant: on-treatment platelet reactivity (PRU units; same patients, true effect SD "
          f"{read_truth(dirs['test'])['true_effect_pru'].std():.1f}):\n")
    print_estimators(continuous, decimals=2)
    if spread:
        print_spread(spread)
    if args.log:
        from kernel.settings import Settings

        report = {"args": vars(args), "estimators": [{"estimator": n, **m, "fit_seconds": s} for n, m, s in rows],
                  "continuous_estimators": [{"estimator": n, **m, "fit_seconds": s} for n, m, s in continuous],
                  "policies": table, "latency": latency, "seed_spread": spread}
        logged = register(outcome, dirs["train"], Settings(), extra_metrics=table_metrics(report),
                          extra_reports={"trial_table": report})
        print(f"MLflow run {logged.run_id}; registered antiplatelet_response version {logged.version}"
              + (" (champion)" if logged.promoted else " (gates failed: champion not moved)"))


def print_estimators(rows: list[tuple[str, dict[str, float], float]], decimals: int) -> None:
    """One markdown table of estimators; effect-scale figures with ``decimals`` places."""
    print("| estimator | PEHE | ATE abs. error | Spearman | 95% coverage | mean width | fit s (1 thread) |")
    print("|---|---|---|---|---|---|---|")
    for name, m, seconds in rows:
        cov = f"{m['coverage_95']:.3f}" if "coverage_95" in m else "-"
        width = f"{m['mean_width']:.{decimals}f}" if "mean_width" in m else "-"
        print(f"| {name} | {m['pehe']:.{decimals}f} | {m['ate_abs_error']:.{decimals}f} | {m['spearman']:.3f} | {cov} "
              f"| {width} | {seconds:.1f} |")


def continuous_rows(args: argparse.Namespace, dirs: dict[str, Path]) -> list[tuple[str, dict[str, float], float]]:
    """The same estimators on the continuous outcome (PRU): the ensemble calibrated on the calibration trial's
    true PRU effects, the T/X/DR-learners, one effect for all, and the forest."""
    train, cal, test = (read_trial(dirs[r]) for r in ("train", "calibration", "test"))
    X, t, y = matrix(train), train["treated"].to_numpy(), train["pru"].to_numpy(dtype=np.float64)
    Xt, tau = matrix(test), read_truth(dirs["test"])["true_effect_pru"].to_numpy()
    start = time.perf_counter()
    model = TreatmentEffectModel(list(FEATURES), "continuous", LearnerParams()).fit(X, t, y)
    model.calibrate(matrix(cal), read_truth(dirs["calibration"])["true_effect_pru"].to_numpy())
    pred = model.predict(Xt)
    rows = [(f"pmed S-learner ensemble ({len(model.boosters_)} boosters)",
             effect_metrics(pred.effect, tau, pred.low, pred.high), time.perf_counter() - start)]
    for name, learner in (("T-learner", t_learner), ("X-learner", x_learner), ("DR-learner", dr_learner)):
        start = time.perf_counter()
        rows.append((name, effect_metrics(learner(X, t, y, LearnerParams(), "continuous")(Xt), tau),
                     time.perf_counter() - start))
    rows.append(("one effect for all (difference in means)",
                 effect_metrics(np.full(len(tau), y[t == 1].mean() - y[t == 0].mean()), tau), 0.0))
    if not args.skip_forest:
        start = time.perf_counter()
        cf = forest(X, t, y, args.forest_trees, binary=False)
        fit = time.perf_counter() - start
        Xf = np.nan_to_num(Xt, nan=-1.0)
        low, high = (np.ravel(a) for a in cf.effect_interval(Xf, alpha=0.05))
        rows.append((f"EconML CausalForestDML ({args.forest_trees} trees)",
                     effect_metrics(np.ravel(cf.effect(Xf)), tau, low, high), fit))
    return rows


def seed_spread(args: argparse.Namespace, root: Path) -> list[dict[str, float]]:
    """pmed's fit / calibrate / evaluate on ``args.seeds`` seed triples (the first is the main table's)."""
    out = []
    for seed in range(args.seed, args.seed + args.seeds):
        dirs = [root / f"spread-{seed}-{role}" for role in ("train", "calibration", "test")]
        for folder, (n, s) in zip(dirs, ((args.patients, seed), (args.patients // 2, seed + 100),
                                         (args.patients // 2, seed + 200)), strict=True):
            if not folder.exists():
                simulate_trial(folder, n, s)
        outcome = fit_and_evaluate(*dirs, LearnerParams())
        out.append({"seed": seed, "interval_k": outcome.model.interval_k, "interval_c": outcome.model.interval_c,
                    **{k: outcome.metrics[k] for k in ("pehe", "coverage_95", "mean_width", "policy_regret",
                                                       "cpic_regret")}})
        print(f"  seed {seed}: PEHE {out[-1]['pehe']:.4f}, coverage {out[-1]['coverage_95']:.3f}", flush=True)
    return out


def print_spread(spread: list[dict[str, float]]) -> None:
    print(f"\npmed over {len(spread)} seed triples (fresh trials each; interval calibrated on each triple's own "
          "calibration trial):\n")
    print("| seed | k | c | PEHE | 95% coverage | mean width | regret | CPIC regret |\n"
          "|---|---|---|---|---|---|---|---|")
    for r in spread:
        print(f"| {r['seed']} | {r['interval_k']:.2f} | {r['interval_c']:.4f} | {r['pehe']:.4f} "
              f"| {r['coverage_95']:.3f} | {r['mean_width']:.4f} | {r['policy_regret']:.4f} | {r['cpic_regret']:.4f} |")
    cov = np.array([r["coverage_95"] for r in spread])
    pehe = np.array([r["pehe"] for r in spread])
    print(f"| mean (min-max) | | | {pehe.mean():.4f} ({pehe.min():.4f}-{pehe.max():.4f}) | {cov.mean():.3f} "
          f"({cov.min():.3f}-{cov.max():.3f}) | | | |")


def table_metrics(report: dict) -> dict[str, float]:
    """The bench table as flat MLflow metrics: ``bench.<estimator>.<metric>``, ``bench.policy.<rule>.regret``."""
    def slug(name: str) -> str:
        return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:60]

    out = {f"bench.{slug(r['estimator'])}.{k}": float(v) for r in report["estimators"] for k, v in r.items()
           if k != "estimator" and isinstance(v, int | float)}
    out |= {f"bench.pru.{slug(r['estimator'])}.{k}": float(v) for r in report["continuous_estimators"]
            for k, v in r.items() if k != "estimator" and isinstance(v, int | float)}
    out |= {f"bench.policy.{slug(r['policy'])}.regret": float(r["regret"]) for r in report["policies"]}
    out |= {f"bench.latency.{k}": float(v) for k, v in report["latency"].items()}
    if report["seed_spread"]:
        cov = [r["coverage_95"] for r in report["seed_spread"]]
        out |= {"bench.seeds.coverage_95_mean": float(np.mean(cov)), "bench.seeds.coverage_95_min": float(np.min(cov)),
                "bench.seeds.pehe_mean": float(np.mean([r["pehe"] for r in report["seed_spread"]])),
                "bench.seeds.n": float(len(cov))}
    return out


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=1, help="repeat pmed on this many seed triples (spread)")
    parser.add_argument("--forest-trees", type=int, default=400)
    parser.add_argument("--skip-forest", action="store_true", help="without econml (a dev-only dependency)")
    parser.add_argument("--log", action="store_true", help="log and register the model in PMED_HOME's MLflow")
    return parser.parse_args()


if __name__ == "__main__":
    main()
