"""Finding the tasks: every subpackage of ``training`` whose ``__init__`` exposes ``TASK``, keyed by its name.

The bottom of the task seam: it imports no other ``training`` module, so the spec (``training.spec``, which
validates a spec's task-owned keys and rules against the task it names) and the run (``training.task``) both
look tasks up here without importing each other. A new kind of model (``training/survival/``, say) is found
with nothing here or anywhere else edited. What a found object must provide is said by its callers'
protocols: ``training.spec.TaskRules`` (what a spec asks of its task) and ``training.task.Task`` (that plus
the run's steps), which every task class subclasses.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any


@cache
def discovered() -> dict[str, Any]:
    """Each subpackage's ``TASK`` by its ``name``, imported once; typed by the caller's protocol (a module
    attribute found at run time has no static type)."""
    import training

    found: dict[str, Any] = {}
    for module in pkgutil.iter_modules(training.__path__):
        if module.ispkg and not module.name.startswith("_"):
            task = getattr(importlib.import_module(f"training.{module.name}"), "TASK", None)
            if task is not None:
                found[task.name] = task
    return found


class TaskError(ValueError):
    """A spec names a task no subpackage of ``training`` implements."""


def discovered_task(name: str) -> Any:
    """The ``TASK`` named ``name``; an unknown one is a ``TaskError`` listing the known tasks."""
    known = discovered()
    if name not in known:
        raise TaskError(f"unknown task {name!r} (known: {', '.join(sorted(known))})")
    return known[name]
