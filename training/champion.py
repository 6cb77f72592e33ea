"""Score the current champion on the new run's test patients, so the comparison is like for like, and find the
best score any version ever promoted recorded (the floor ``vs_champion`` holds a candidate to).

"Ever promoted" is read from the registry itself: a version whose gates passed (the alias moved to it,
``training.tracking.conclude_version``) or that was promoted by force (``pmed.forced_promotion``). Its score is
the headline metric its own run logged (``auroc``, or ``c_index`` for survival) on its own test patients. So
no step of a run has to remember to update a tag, and a sequence of small losses, each within the margin of
the champion before it, is still refused once the total passes the margin.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from sklearn.metrics import roc_auc_score

from kernel.bundle import read_bundle
from kernel.model_registry import download_version
from training.data import KEY
from training.gates import ChampionComparison
from training.tracking import GATES_TAG

FORCED_TAG = "pmed.forced_promotion"
Paired = Callable[[np.ndarray, np.ndarray], tuple[float, float, float]]  # (candidate, champion) -> diff, CI


def champion_test_risk(client: MlflowClient, model_name: str, version: str, table: pd.DataFrame,
                       test_keys: pd.Series) -> np.ndarray | None:
    """The champion's served risk for these patients, or None when the table lacks one of its features."""
    with tempfile.TemporaryDirectory() as tmp:
        bundle = read_bundle(download_version(client, model_name, version, Path(tmp)))
    if not set(bundle.feature_names) <= set(table.columns):
        return None
    rows = table.set_index(KEY).loc[test_keys.to_numpy(), bundle.feature_names].astype("float64").to_numpy()
    return np.asarray(bundle.risk(rows))


def champion_test_auroc(client: MlflowClient, model_name: str, version: str, table: pd.DataFrame,
                        test_keys: pd.Series, y_test: np.ndarray) -> float | None:
    """The champion's AUROC on these patients, or None when the table lacks one of its features."""
    risk = champion_test_risk(client, model_name, version, table, test_keys)
    return None if risk is None else float(roc_auc_score(y_test, risk))


def best_promoted(client: MlflowClient, model_name: str, metric: str) -> tuple[str, float] | None:
    """(version, score) of the highest ``metric`` any promoted version's run logged; None before the first."""
    best: tuple[str, float] | None = None
    for mv in client.search_model_versions(f"name='{model_name}'"):
        if mv.tags.get(GATES_TAG) != "passed" and FORCED_TAG not in mv.tags:
            continue
        try:
            score = client.get_run(str(mv.run_id)).data.metrics.get(metric) if mv.run_id else None
        except MlflowException:
            continue
        if score is not None and np.isfinite(score) and (best is None or score > best[1]):
            best = (str(mv.version), float(score))
    return best


def compare_with_champion(client: MlflowClient, model_name: str, version: str, table: pd.DataFrame,
                          test_keys: pd.Series, candidate_risk: np.ndarray, score: float, paired: Paired,
                          metric: str, score_metric: str) -> ChampionComparison | None:
    """The candidate (test ``score``, its risks ``candidate_risk``) against the champion on the same test patients
    (``paired`` gives candidate - champion with its bootstrap CI) and against the best version ever promoted
    (its run's ``score_metric``); None when the champion cannot score these patients."""
    champion = champion_test_risk(client, model_name, version, table, test_keys)
    if champion is None:
        return None
    diff, low, high = paired(candidate_risk, champion)
    best = best_promoted(client, model_name, score_metric)
    return ChampionComparison(metric=metric, version=version, n=len(candidate_risk), score=score, diff=diff,
                              ci_low=low, ci_high=high, best_version=best[0] if best else None,
                              best_score=best[1] if best else None)
