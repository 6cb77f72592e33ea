"""Train one model from its spec, end to end: data -> fit -> evaluate -> log -> register -> promote.

The champion alias moves only after every step has succeeded and the spec's gates pass on held-out
patients. Any exception before registration leaves the registry untouched.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import sklearn
import xgboost
from mlflow import MlflowClient

from kernel.bundle import write_bundle
from kernel.progress import progress_bar
from kernel.model_registry import version_for_alias
from kernel.settings import Settings
from training import tracking
from training.card import card_sections, render_html, render_markdown
from training.champion import champion_test_auroc
from training.data import (
    FEATURES_FILE,
    OUTCOMES_FILE,
    data_fingerprint,
    describe_features,
    load_table,
    load_training_data,
)
from training.failpoints import failpoint
from training.fit import FittedModel, TrainingData, fit_model
from training.gates import GateResult, check_gates
from training.report import Evaluation, evaluate_model
from training.search import search_params
from training.spec import ModelSpec, load_spec
from training.split import Split, split_cohort

Progress = Callable[[str], None]
CHAMPION = "champion"


@dataclass(frozen=True)
class TrainingOutcome:
    model_name: str
    run_id: str
    version: str
    metrics: dict[str, float]
    gates: list[GateResult]
    promoted: bool


def train_from_spec(spec_path: Path, features_dir: Path | None, settings: Settings,
                    progress: Progress = lambda _: None, table: Path | None = None) -> TrainingOutcome:
    """Train from pmed's feature folder, or from ``table`` (a user's CSV/Parquet) when given."""
    spec = load_spec(spec_path)
    sources = [table] if table else [features_dir / FEATURES_FILE, features_dir / OUTCOMES_FILE]
    progress(f"loading data for {spec.name} from {table or features_dir}")
    data = load_table(table, spec) if table else load_training_data(features_dir, spec)
    if spec.task == "dose_regression":
        from training.dose_pipeline import train_dose_model

        return train_dose_model(spec, spec_path, data, sources, settings, progress)
    split = split_cohort(data.keys, data.cohort, spec.split, spec.seed)
    progress(f"{len(data.y)} patients at risk: train {len(split.train)}, validation {len(split.validation)}, "
             f"test {len(split.test)}; fitting XGBoost with early stopping")
    trials: list[dict[str, object]] = []
    if spec.search:
        progress(f"searching hyperparameters: up to {spec.search.trials} trials / {spec.search.timeout_seconds} s")
        with progress_bar("hyperparameter trials", spec.search.trials) as advance:
            best, trials = search_params(spec, data, split, advance)
        spec = spec.model_copy(update={"xgboost": best})
        progress(f"best of {len(trials)} trials: {best.model_dump()}")
    with progress_bar("boosting rounds (early stopping may end sooner)", spec.xgboost.n_estimators) as advance:
        fitted = fit_model(spec, data, split, advance)
    progress(f"stopped at round {fitted.best_iteration + 1} of at most {spec.xgboost.n_estimators}")
    failpoint("after_fit")
    client = tracking.configure_mlflow(settings)
    for run_id in tracking.reap_stale_runs(client, settings.experiment):
        progress(f"MLflow run {run_id} was left RUNNING by a killed training process: marked KILLED")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        progress("evaluating on held-out patients: metrics with bootstrap CIs, baselines, subgroups, decision curve")
        evaluation = evaluate_model(spec, data, split, fitted, work / "figures")
        metrics = evaluation.metrics
        gates = check_gates(spec.gates, metrics, _champion_auroc(client, spec, data, split))
        progress(f"test AUROC {metrics['auroc']:.3f} (95% CI {metrics['auroc_ci_low']:.3f}-"
                 f"{metrics['auroc_ci_high']:.3f}), calibration slope {metrics['calibration_slope']:.2f}"
                 + (f", oracle AUROC {metrics['oracle_auroc']:.3f}" if "oracle_auroc" in metrics else "")
                 + "".join(f", {k.removesuffix('.auroc')} {v:.3f}" for k, v in metrics.items()
                           if k.endswith(".auroc") and not k.startswith("subgroup")))
        feature_spec = feature_spec_for(spec, data, split, evaluation.report["importance"]["feature"])
        tags = run_tags(spec, sources)
        card = write_card(work / "card", spec, evaluation, gates, tags, feature_spec["features"])
        write_bundle(work / "bundle", fitted.booster, fitted.calibrator, feature_spec, cards=card)
        logged = tracking.log_and_register(
            model_name=spec.name, bundle_dir=work / "bundle", spec_path=spec_path,
            params=run_params(spec, fitted), metrics=mlflow_safe(metrics), tags=tags,
            reports={"gates": [g.model_dump() for g in gates], "evaluation": evaluation.report},
            files={"evaluation/figures": evaluation.figures, "model_card": card,
                   "model_card/figures": evaluation.figures},  # the Markdown card links figures/*.png
            input_example=pd.DataFrame([{f["name"]: f["example"] for f in feature_spec["features"]}]),
            trials=trials,
        )
    passed = tracking.conclude_version(client, spec.name, logged.version, [g.model_dump() for g in gates], CHAMPION)
    return TrainingOutcome(spec.name, logged.run_id, logged.version, metrics, gates, promoted=passed)


def _champion_auroc(client: MlflowClient, spec: ModelSpec, data: TrainingData, split: Split) -> float | None:
    champion = version_for_alias(client, spec.name, CHAMPION)
    if champion is None or spec.gates.max_auroc_drop_vs_champion is None:
        return None
    return champion_test_auroc(client, spec.name, str(champion.version), data.source, data.keys.iloc[split.test],
                               data.y[split.test])


def write_card(folder: Path, spec: ModelSpec, evaluation: Evaluation, gates: list[GateResult],
               tags: dict[str, str], features: list[dict[str, object]]) -> list[Path]:
    """model_card.md (+ its figures) and a self-contained model_card.html."""
    context = {"fingerprint": tags["pmed.data_fingerprint"], "git SHA": tags["pmed.git_sha"],
               "seed": tags["pmed.seed"], "xgboost": tags["pmed.version.xgboost"],
               "data_origin": "simulated cohort with known true risks" if "oracle" in evaluation.report["test"]
               else "user-provided cohort"}
    sections = card_sections(spec, evaluation.report, gates, context, evaluation.figures, features)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_card.md").write_text(render_markdown(spec.name, sections), encoding="utf-8")
    (folder / "model_card.html").write_text(render_html(spec.name, sections), encoding="utf-8")
    return [folder / "model_card.md", folder / "model_card.html"]


def mlflow_safe(metrics: dict[str, float]) -> dict[str, float]:
    """MLflow metric names allow letters, digits and _-. /; subgroup levels such as '<45' or '75+' do not."""
    def clean(name: str) -> str:
        return re.sub(r"[^A-Za-z0-9_\-. /]", "_", name.replace("<", "under").replace("+", "plus"))
    return {clean(k): v for k, v in metrics.items() if v == v}  # NaN metrics are left out


def feature_spec_for(spec: ModelSpec, data: TrainingData, split: Split,
                     importance: dict[str, float] | None = None) -> dict[str, object]:
    """What serving needs to validate requests, label explanations and flag or abstain, fixed at training time."""
    return {
        "model": spec.name,
        "description": spec.description,
        "intended_use": spec.intended_use,
        "task": spec.task,
        "target": spec.target,
        "horizon_years": spec.horizon_years,
        "calibration": spec.calibration,
        "decision_thresholds": list(spec.decision_thresholds),
        "max_missing_importance": spec.max_missing_importance,
        "features": describe_features(spec, data.X[split.train], importance),
    }


def run_params(spec: ModelSpec, fitted: FittedModel) -> dict[str, object]:
    params = {f"xgb.{k}": v for k, v in spec.xgboost.model_dump().items()}
    params.update({"target": spec.target, "horizon_years": spec.horizon_years, "seed": spec.seed,
                   "calibration": spec.calibration, "n_features": len(spec.features),
                   "best_iteration": fitted.best_iteration,
                   "monotone_constraints": str(spec.monotone_constraints) or "none"})
    return params


def run_tags(spec: ModelSpec, sources: list[Path]) -> dict[str, str]:
    return {
        "pmed.model": spec.name,
        "pmed.data_fingerprint": data_fingerprint(sources),
        "pmed.data_source": ", ".join(p.name for p in sources),
        "pmed.seed": str(spec.seed),
        "pmed.git_sha": _git_sha(),
        "pmed.version.xgboost": xgboost.__version__,
        "pmed.version.scikit-learn": sklearn.__version__,
        "pmed.version.pandas": pd.__version__,
        "pmed.version.mlflow": mlflow.__version__,
    }


def _git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"
