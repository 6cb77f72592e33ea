"""The seam between what every training run shares and what one kind of model (task) does its own way.

A task is a subpackage of ``training`` (``training/risk/``, ``training/regression/``, ``training/treatment/``)
whose ``__init__`` exposes ``TASK``, an object with the methods below, keyed by the spec's ``task`` value.
``task_for`` finds them by walking the subpackages (``training.discovery``), so a new kind of model
(``training/survival/``, say) is one new subpackage with its ``TASK`` (and its artifact class in
``kernel/artifacts/``): nothing here, in ``training.run``, in ``training.spec`` or in the CLI lists the tasks.
A task's own spec keys are models it names in ``spec_parts`` (``ModelSpec.part(key)`` returns them
validated); its baselines are the names it lists in ``baselines``. ``Task`` extends what the spec asks of its
task (``training.spec.TaskRules``: those two and ``check_spec``), and a task's class subclasses ``Task``, so
the type checker holds each of its methods (marked ``@override``) to the signatures below.

The shared tail (card, bundle, MLflow, registry, verification, gates, alias) is ``training.run``; a task
supplies the parts: reading and fitting, evaluating (with its named baselines), its gates, its card
sections, the typed artifact serving will read, and what the run logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from training import discovery
from training.discovery import TaskError
from training.spec import ModelSpec, TaskRules

if TYPE_CHECKING:
    import xgboost as xgb
    from mlflow import MlflowClient

    from kernel.artifact import Artifact
    from kernel.calibration import Calibrator
    from training.card import Section
    from training.gates import GateResult

__all__ = ["Evaluation", "Progress", "RunInputs", "RunRecord", "TargetKind", "Task", "TaskError", "task_for", "tasks"]

Progress = Callable[[str], None]
TargetKind = Literal["outcome", "dose"]  # how a table's target column is checked: 0/1 (empty = not at risk), or > 0


@dataclass(frozen=True)
class RunInputs:
    """Where a run's data comes from; each task reads the fields it needs and refuses a run without them."""

    spec_path: Path
    features_dir: Path | None = None  # pmed's feature folder (risk models)
    table: Path | None = None  # a user's own CSV/Parquet table
    trial: Path | None = None  # a randomised trial folder to fit on (treatment models)
    calibration: Path | None = None  # a simulated trial with truth, for the effect interval
    test: Path | None = None  # a trial to evaluate on
    holdout: float = 0.3  # share of ``trial`` held out when there is no ``test``
    quarantine_dir: Path | None = None  # where rejected rows go (one CSV per source)


@dataclass
class Evaluation:
    """Metrics (flat, as MLflow logs them), the evaluation report (JSON) and any figures it drew."""

    metrics: dict[str, float]
    report: dict[str, Any]
    figures: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class RunRecord:
    """What the shared tail writes and logs for one fitted model, beside its artifact, card and gates."""

    booster: xgb.Booster
    calibrator: Calibrator
    metrics: dict[str, float]
    params: dict[str, object]
    tags: dict[str, str]
    reports: dict[str, Any]
    spec_path: Path  # logged as the run's spec
    files: dict[str, list[Path]] = field(default_factory=dict)  # logged artifacts (the card is added)
    extras: Callable[[Path], list[Path]] | None = None  # writes extra bundle files into the folder it is given
    trials: list[dict[str, Any]] = field(default_factory=list)  # hyperparameter-search trials (child runs)


class Task(TaskRules, Protocol):
    """One kind of model. ``fit`` returns the task's own fitted object, which the later steps receive.

    From ``TaskRules``: ``name``, ``baselines``, ``spec_parts`` and ``check_spec``."""

    target_kind: TargetKind  # what its target column holds, in a user's table

    def fit(self, spec: ModelSpec, inputs: RunInputs, progress: Progress) -> Any:
        """Read the data and fit the model."""
        ...

    def evaluate(self, spec: ModelSpec, fitted: Any, figures_dir: Path, progress: Progress) -> Evaluation:
        """Score on patients the model never saw, beside the task's named baselines."""
        ...

    def gates(self, spec: ModelSpec, fitted: Any, evaluation: Evaluation, client: MlflowClient
              ) -> list[GateResult]:
        """Every promotion gate, all evaluated (none short-circuits)."""
        ...

    def artifact(self, spec: ModelSpec, fitted: Any, evaluation: Evaluation) -> Artifact:
        """The typed artifact (``kernel.artifacts``) serving reads from the bundle."""
        ...

    def card_sections(self, spec: ModelSpec, evaluation: Evaluation, gates: list[GateResult],
                      context: dict[str, str], artifact: Artifact) -> list[Section] | None:
        """The model card's sections, or None for a task that writes no card."""
        ...

    def record(self, spec: ModelSpec, inputs: RunInputs, fitted: Any, evaluation: Evaluation,
               gates: list[GateResult]) -> RunRecord:
        """The booster, calibrator, params, tags, reports and files the run logs."""
        ...


def tasks() -> dict[str, Task]:
    """Every task of training's subpackages, by name (each subpackage exposing ``TASK``)."""
    return discovery.discovered()


def task_for(name: str) -> Task:
    """The task a spec names; an unknown one is a ``TaskError`` listing the known tasks."""
    task: Task = discovery.discovered_task(name)
    return task
