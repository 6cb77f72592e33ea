"""What every command shares: the `[pmed]` output lines, the error exit, and settings read at the edge."""

from __future__ import annotations

from typing import NoReturn

import typer
from pydantic import ValidationError

from kernel.settings import Settings


def say(message: str) -> None:
    typer.echo(f"[pmed] {message}")


def fail(message: str) -> NoReturn:
    typer.secho(f"[pmed] error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=1)


def load_settings() -> Settings:
    """Settings from PMED_* variables; a bad value is named without echoing it (it may be a secret)."""
    try:
        return Settings()
    except ValidationError as exc:
        fail("; ".join(f"PMED_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()))
