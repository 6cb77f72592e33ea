"""Train a dose model from its spec: site-held-out evaluation -> final fit -> log -> register -> promote.

The same MLflow, bundle and registry path as the risk models (training/pipeline.py calls this for
``task: dose_regression``); the alias moves only when the dose gates pass on the pooled site-held-out
predictions.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from kernel.bundle import write_bundle
from kernel.progress import progress_bar
from kernel.settings import Settings
from training import tracking
from training.card import render_html, render_markdown
from training.dose_card import dose_card_sections
from training.dose_fit import fit_dose_model
from training.dose_report import comparison_lines, evaluate_by_site
from training.failpoints import failpoint
from training.fit import TrainingData
from training.gates import check_dose_gates
from training.importance import mean_abs_shap
from training.spec import ModelSpec
from training.split import split_all

if TYPE_CHECKING:
    from training.pipeline import Progress, TrainingOutcome


def train_dose_model(spec: ModelSpec, spec_path: Path, data: TrainingData, sources: list[Path], settings: Settings,
                     progress: Progress) -> TrainingOutcome:
    from training.pipeline import CHAMPION, TrainingOutcome, feature_spec_for, mlflow_safe, run_params, run_tags

    progress(f"{len(data.y)} patients from {data.cohort[spec.split.site_column].nunique()} sites; "
             f"{spec.split.folds} site-held-out folds, then a final fit on all sites")
    evaluation = evaluate_by_site(spec, data, progress)
    for line in comparison_lines(evaluation.report):
        progress(line)
    split = split_all(data.keys, spec.split, spec.seed)
    with progress_bar("boosting rounds (final fit)", spec.xgboost.n_estimators) as advance:
        fitted = fit_dose_model(spec, data, split, advance)
    failpoint("after_fit")
    metrics = {**evaluation.metrics, "best_iteration": float(fitted.best_iteration),
               "interval_log_halfwidth": fitted.calibrator.log_halfwidth}
    gates = check_dose_gates(spec.gates, metrics)
    importance = mean_abs_shap(fitted.booster, data.X[split.validation], list(spec.features))["feature"]
    feature_spec = feature_spec_for(spec, data, split, importance)
    feature_spec.update({"unit": "mg/week", "interval_coverage": spec.dose.interval_coverage,
                         "target_transform": spec.dose.target_transform})
    tags = run_tags(spec, sources)
    context = {"fingerprint": tags["pmed.data_fingerprint"], "git SHA": tags["pmed.git_sha"], "seed": tags["pmed.seed"],
               "xgboost": tags["pmed.version.xgboost"], "data_origin": "user-provided cohort"}
    client = tracking.configure_mlflow(settings)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        sections = dose_card_sections(spec, evaluation.report, gates, context, feature_spec["features"], importance)
        (work / "card").mkdir()
        card = [work / "card" / "model_card.md", work / "card" / "model_card.html"]
        card[0].write_text(render_markdown(spec.name, sections), encoding="utf-8")
        card[1].write_text(render_html(spec.name, sections), encoding="utf-8")
        write_bundle(work / "bundle", fitted.booster, fitted.calibrator, feature_spec, cards=card)
        params = {**run_params(spec, fitted), "objective": spec.dose.objective,
                  "target_transform": spec.dose.target_transform, "site_folds": spec.split.folds}
        logged = tracking.log_and_register(
            model_name=spec.name, bundle_dir=work / "bundle", spec_path=spec_path, params=params,
            metrics=mlflow_safe(metrics), tags=tags,
            reports={"gates": [g.model_dump() for g in gates], "evaluation": evaluation.report},
            files={"model_card": card},  # per-patient predictions stay out of the run (patient records)
            input_example=pd.DataFrame([{f["name"]: f["example"] for f in feature_spec["features"]}]),
        )
    passed = tracking.conclude_version(client, spec.name, logged.version, [g.model_dump() for g in gates], CHAMPION)
    return TrainingOutcome(spec.name, logged.run_id, logged.version, metrics, gates, promoted=passed)
