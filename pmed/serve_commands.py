"""The commands around the API: `pmed keys create | list | revoke` and `pmed serve`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Annotated

import typer

from pmed.console import fail, load_settings, say

if TYPE_CHECKING:
    from kernel.settings import Settings


def create_key(
    name: Annotated[str, typer.Option(help="Who or what the key is for")],
    role: Annotated[str, typer.Option(help="clinician | application | data_scientist | admin")] = "application",
) -> None:
    """Issue an API key; it is printed once and stored only as a SHA-256 digest."""
    from serving.auth import ROLES, issue_key

    chosen = next((r for r in ROLES if r == role), None)
    if chosen is None:
        fail(f"role must be one of {', '.join(ROLES)}")
    key_id, key = issue_key(load_settings().keys_file, name, chosen)
    say(f"key id {key_id} (role {role}); the key, shown once:")
    typer.echo(key)


def list_keys() -> None:
    """Key ids, names, roles and state (never the keys or their digests)."""
    from serving.auth import read_keys

    keys = read_keys(load_settings().keys_file)
    if not keys:
        say("no keys issued yet (pmed keys create --name NAME --role ROLE)")
    for k in keys:
        typer.echo(f"{k.key_id}  {k.role:<14} {'revoked' if k.revoked else 'active ':<8} {k.created}  {k.name}")


def revoke(key_id: Annotated[str, typer.Argument(help="The key id shown by `pmed keys list`")]) -> None:
    """Revoke a key; a running server refuses it from its next request (no restart)."""
    from serving.auth import revoke_key

    key = revoke_key(load_settings().keys_file, key_id)
    if key is None:
        fail(f"no key with id {key_id}")
    say(f"revoked {key.key_id} ({key.name}, role {key.role})")


def serve(
    host: Annotated[str | None, typer.Option(help="[default: PMED_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="[default: PMED_PORT]")] = None,
) -> None:
    """Serve the champion of each model in PMED_SERVED_MODELS over HTTP (one process; SIGTERM drains)."""
    run_api(load_settings(), host, port)


def run_api(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Serve ``settings.served_models`` until SIGTERM; ``host`` and ``port`` override the settings'."""
    from serving.app import create_app
    from serving.server import serve as run_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    base = f"http://{host or settings.host}:{port or settings.port}"
    say(f"serving {', '.join(settings.served_models)} @{settings.serve_alias} on {base} (OpenAPI docs at /docs)")
    for name in settings.served_models:
        say(f"clinician page (risk and treatment models; sign in with a clinician key): {base}/clinician/{name}")
    run_server(create_app(settings), host=host or settings.host, port=port or settings.port)
