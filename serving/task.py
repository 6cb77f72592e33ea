"""Finding the tasks: one ``serving.served.ServedTask`` per artifact ``task``, each in its own subpackage.

A route never asks which kind of model it holds; it asks the model's task. Each kind lives in its own
subpackage of ``serving`` (``risk/``, ``regression/``, ``treatment/``) that exposes ``TASK``, an instance
of a ``ServedTask`` subclass; ``served_tasks`` finds them by walking the subpackages, so a new kind
(``serving/survival/``, say) plugs in without editing anything here or in the routes.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from serving.served import ServedTask, TaskRefusal


@cache
def served_tasks() -> dict[str, ServedTask]:
    """Every task of a ``serving`` subpackage that exposes ``TASK``, by artifact task value (imported once)."""
    import serving

    found: dict[str, ServedTask] = {}
    for module in pkgutil.iter_modules(serving.__path__):
        if module.ispkg and not module.name.startswith("_"):
            task = getattr(importlib.import_module(f"serving.{module.name}"), "TASK", None)
            if isinstance(task, ServedTask):
                found[task.name] = task
    return dict(sorted(found.items(), key=lambda item: (item[1].rank, item[0])))


def answering(attribute: str) -> list[str]:
    """The task values whose ``ServedTask`` answers a route (``predict_response`` set, say), in rank order."""
    return [name for name, task in served_tasks().items() if getattr(task, attribute)]


def task_for(name: str) -> ServedTask:
    """The task serving an artifact's ``task`` value; ``TaskRefusal`` for one no subpackage serves."""
    task = served_tasks().get(name)
    if task is None:
        raise TaskRefusal(f"no serving task for model task {name!r} (served: {', '.join(served_tasks())})")
    return task


def response_union(attribute: str, rank: str) -> Any:
    """The union of the tasks' response bodies for one route, ordered by ``rank``, each type once."""
    tasks = sorted(served_tasks().values(), key=lambda task: (getattr(task, rank), task.name))
    types = list(dict.fromkeys(t for task in tasks if (t := getattr(task, attribute))))
    union = types[0]
    for t in types[1:]:
        union = union | t
    return union
