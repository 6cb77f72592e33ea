"""Moving an alias by hand: the same gates as training, and an explicit, recorded override."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from training.tracking import GATES_TAG, set_alias, verify_version


class PromotionError(Exception):
    """The version may not be promoted; the message says why."""


def promote_version(client: MlflowClient, name: str, version: str, alias: str, force: bool) -> None:
    """Point ``alias`` at ``version`` if its gates passed (or ``force``), after verifying its bundle."""
    try:
        mv = client.get_model_version(name, version)
    except MlflowException as exc:
        raise PromotionError(f"{name} version {version} does not exist") from exc
    gates = mv.tags.get(GATES_TAG)
    if gates != "passed" and not force:
        raise PromotionError(f"{name} version {version} has gates {gates or 'unchecked'}; "
                             "use --force to override (recorded on the version)")
    verify_version(client, name, version)
    if force:
        client.set_model_version_tag(name, version, "pmed.forced_promotion",
                                     f"{alias} by {getpass.getuser()} at {datetime.now(UTC).isoformat()}")
    set_alias(client, name, alias, version)
