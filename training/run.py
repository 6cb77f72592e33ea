"""The shared run of every task: fit -> evaluate -> gates -> card + bundle -> log -> register -> verify -> alias.

Written once for every kind of model; a task (``training.task.Task``) supplies its parts. The champion
alias moves only after every step has succeeded and every gate passed; any exception before registration
leaves the registry untouched, and a registered version is re-downloaded and verified as serving will
read it before its gates are recorded.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import sklearn
import xgboost
from mlflow import MlflowClient

from kernel.artifact import Artifact
from kernel.bundle import write_bundle
from kernel.settings import Settings
from training import tracking
from training.card import Section, render_html, render_markdown
from training.data import FEATURES_FILE, OUTCOMES_FILE, data_fingerprint
from training.failpoints import failpoint
from training.fit import FittedModel
from training.gates import GateResult
from training.spec import ModelSpec
from training.task import Progress, RunInputs, RunRecord, Task

CHAMPION = "champion"


@dataclass(frozen=True)
class TrainingOutcome:
    model_name: str
    run_id: str
    version: str
    metrics: dict[str, float]
    gates: list[GateResult]
    promoted: bool


def execute(task: Task, spec: ModelSpec, inputs: RunInputs, settings: Settings,
            progress: Progress = lambda _: None) -> TrainingOutcome:
    """Train one model of any task end to end; the alias moves only if all of its gates pass."""
    fitted = task.fit(spec, inputs, progress)
    failpoint("after_fit")
    client = start_tracking(settings, progress)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        evaluation = task.evaluate(spec, fitted, work / "figures", progress)
        gates = task.gates(spec, fitted, evaluation, client)
        artifact = task.artifact(spec, fitted, evaluation)
        record = task.record(spec, inputs, fitted, evaluation, gates)
        sections = task.card_sections(spec, evaluation, gates, card_context(record.tags, evaluation.report), artifact)
        return publish(client, spec.name, artifact, record, gates, work, sections)


def start_tracking(settings: Settings, progress: Progress) -> MlflowClient:
    """The MLflow client, after marking runs a killed training process left RUNNING."""
    client = tracking.configure_mlflow(settings)
    for run_id in tracking.reap_stale_runs(client, settings.experiment):
        progress(f"MLflow run {run_id} was left RUNNING by a killed training process: marked KILLED")
    return client


def publish(client: MlflowClient, model_name: str, artifact: Artifact, record: RunRecord, gates: list[GateResult],
            work: Path, sections: list[Section] | None = None) -> TrainingOutcome:
    """The shared tail: card and bundle, log and register, verify as serving will, record the gates, and move
    the alias only if all passed."""
    card = write_card(work / "card", model_name, sections) if sections is not None else []
    extras = record.extras(work / "effect") if record.extras is not None else []
    write_bundle(work / "bundle", record.booster, record.calibrator, artifact, cards=card, extras=extras)
    logged = tracking.log_and_register(
        model_name=model_name, bundle_dir=work / "bundle", spec_path=record.spec_path, params=record.params,
        metrics=mlflow_safe(record.metrics), tags=record.tags, reports=record.reports,
        files={**record.files, **({"model_card": card} if card else {})},
        input_example=pd.DataFrame([{f.name: f.example for f in artifact.features}]), trials=record.trials)
    passed = tracking.conclude_version(client, model_name, logged.version, [g.model_dump() for g in gates], CHAMPION)
    return TrainingOutcome(model_name, logged.run_id, logged.version, record.metrics, gates, promoted=passed)


def write_card(folder: Path, title: str, sections: list[Section]) -> list[Path]:
    """model_card.md (its figures are logged beside it) and a self-contained model_card.html."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_card.md").write_text(render_markdown(title, sections), encoding="utf-8")
    (folder / "model_card.html").write_text(render_html(title, sections), encoding="utf-8")
    return [folder / "model_card.md", folder / "model_card.html"]


def card_context(tags: dict[str, str], report: dict[str, object]) -> dict[str, str]:
    """The reproducibility facts every card states: data fingerprint, source files and origin, code version,
    seed, library. The origin says whether pmed built the data from raw files (its feature folder) or it is the
    user's own table (``--table``): never the one for the other."""
    test = report.get("test")
    simulated = isinstance(test, dict) and "oracle" in test
    origin = tags.get("pmed.data_origin", "")
    source = tags.get("pmed.data_source", "unknown")
    if origin == ORIGIN_FEATURES:
        said = f"pmed's feature folder ({source}), built by pmed from raw files"
    elif origin == ORIGIN_TABLE:
        said = f"the user's own table `{source}` (given with --table)"
    else:
        said = f"{source} (origin not recorded)"
    if simulated:
        said += "; a simulated cohort with known true risks"
    return {"fingerprint": tags.get("pmed.data_fingerprint", "unknown"), "data source": source,
            "git SHA": tags.get("pmed.git_sha", "unknown"), "seed": tags.get("pmed.seed", "unknown"),
            "xgboost": tags.get("pmed.version.xgboost", xgboost.__version__), "data_origin": said}


def mlflow_safe(metrics: dict[str, float]) -> dict[str, float]:
    """MLflow metric names allow letters, digits and _-. /; subgroup levels such as '<45' or '75+' do not."""
    def clean(name: str) -> str:
        return re.sub(r"[^A-Za-z0-9_\-. /]", "_", name.replace("<", "under").replace("+", "plus"))
    return {clean(k): v for k, v in metrics.items() if v == v}  # NaN metrics are left out


def artifact_fields(spec: ModelSpec, features: list[dict[str, object]]) -> dict[str, object]:
    """The artifact fields every task takes from its spec, fixed at training time; a task adds its own."""
    return {"model": spec.name, "description": spec.description, "intended_use": spec.intended_use,
            "task": spec.task, "target": spec.target, "horizon_years": spec.horizon_years,
            "calibration": spec.calibration, "decision_thresholds": list(spec.decision_thresholds),
            "max_missing_importance": spec.max_missing_importance, "missing_unseen": spec.missing_unseen,
            "features": features}


def run_params(spec: ModelSpec, fitted: FittedModel) -> dict[str, object]:
    """The params every XGBoost-per-spec run logs: the booster's settings and the spec's key choices."""
    params: dict[str, object] = {f"xgb.{k}": v for k, v in spec.xgboost.model_dump().items()}
    params.update({"target": spec.target, "horizon_years": spec.horizon_years, "seed": spec.seed,
                   "calibration": spec.calibration, "n_features": len(spec.features),
                   "best_iteration": fitted.best_iteration,
                   "monotone_constraints": str(spec.monotone_constraints) or "none"})
    return params


ORIGIN_FEATURES = "pmed_feature_folder"  # pmed.data_origin: features.parquet + outcomes.parquet built by pmed
ORIGIN_TABLE = "user_table"  # a user's own CSV/Parquet (--table)


def data_origin(sources: list[Path]) -> str:
    """pmed's feature folder when the sources are exactly its two files (``training.data.load_inputs``), else the
    user's table."""
    return ORIGIN_FEATURES if [p.name for p in sources] == [FEATURES_FILE, OUTCOMES_FILE] else ORIGIN_TABLE


def run_tags(spec: ModelSpec, sources: list[Path]) -> dict[str, str]:
    """Tags that make a run reproducible: data fingerprint and origin, seed, code and library versions."""
    return {
        "pmed.model": spec.name,
        "pmed.data_fingerprint": data_fingerprint(sources),
        "pmed.data_source": ", ".join(p.name for p in sources),
        "pmed.data_origin": data_origin(sources),
        "pmed.seed": str(spec.seed),
        "pmed.git_sha": git_sha(),
        "pmed.version.xgboost": xgboost.__version__,
        "pmed.version.scikit-learn": sklearn.__version__,
        "pmed.version.pandas": pd.__version__,
        "pmed.version.mlflow": mlflow.__version__,
    }


def git_sha() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() or "unknown"
