"""One module per model kind's artifact class; each registers itself with ``kernel.artifact.Artifact``.

``parse_artifact`` imports every module in this package first (``load_kinds``), so a new kind is one new
file here and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Any

from kernel.artifact import DEFAULT_TASK, Artifact, ArtifactError


@cache
def load_kinds() -> tuple[str, ...]:
    """Import every artifact module of this package (once); returns their names."""
    names = tuple(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return names


def parse_artifact(raw: dict[str, Any]) -> Artifact:
    """The typed artifact of a bundle's ``feature_spec.json``, by its task."""
    load_kinds()
    task = raw.get("task", DEFAULT_TASK)
    kind = Artifact.kinds.get(task)
    if kind is None:
        raise ArtifactError(f"unknown model task {task!r} (known: {', '.join(sorted(Artifact.kinds))})")
    return kind.model_validate({**raw, "task": task})
