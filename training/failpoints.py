"""Named failpoints for crash tests: ``PMED_FAILPOINT=<name>`` makes training SIGKILL itself there.

Unset (always, outside tests) it does nothing. It exists so a test can prove, with a real kill rather
than a mocked exception, that a crash at any step between fitting and the alias move never leaves a
half-written version serving.
"""

from __future__ import annotations

import os
import signal

POINTS = ("after_fit", "after_logging", "after_register", "before_alias")


def failpoint(name: str) -> None:
    if os.environ.get("PMED_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
