"""Train one model from its spec, whatever its task: the spec names the task, discovery finds it.

``train_from_spec`` is the entry point of ``pmed train``; the run itself (fit -> evaluate -> log ->
register -> promote) is ``training.run.execute`` and the kind-specific parts are the task's
(``training.task``).
"""

from __future__ import annotations

from pathlib import Path

from kernel.settings import Settings
from training.run import CHAMPION, TrainingOutcome, execute
from training.spec import load_spec
from training.task import Progress, RunInputs, task_for

__all__ = ["CHAMPION", "TrainingOutcome", "train_from_spec"]


def train_from_spec(spec_path: Path, features_dir: Path | None, settings: Settings,
                    progress: Progress = lambda _: None, table: Path | None = None,
                    inputs: RunInputs | None = None) -> TrainingOutcome:
    """Train from pmed's feature folder, from ``table`` (a user's CSV/Parquet) when given, or from the
    trial folders of ``inputs`` (a treatment model)."""
    spec = load_spec(spec_path)
    inputs = inputs or RunInputs(spec_path, features_dir=features_dir, table=table,
                                 quarantine_dir=settings.quarantine_dir)
    return execute(task_for(spec.task), spec, inputs, settings, progress)
