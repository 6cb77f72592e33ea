"""One module per model kind's artifact class; each registers itself with ``kernel.artifact.Artifact``.

``load_kinds`` imports every module in this package, so a new kind is one new file here.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache


@cache
def load_kinds() -> tuple[str, ...]:
    """Import every artifact module of this package (once); returns their names."""
    names = tuple(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))
    for name in names:
        importlib.import_module(f"{__name__}.{name}")
    return names
