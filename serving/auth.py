"""API keys: random bearer tokens stored only as SHA-256 digests, each with an id and a role.

Keys carry 256 bits of randomness, so a plain SHA-256 digest is enough to make a leaked keys file
useless to an attacker; comparison is constant-time. The key id (not the key) goes to the audit log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

Role = Literal["clinician", "application", "data_scientist", "admin"]
ROLES: tuple[Role, ...] = ("clinician", "application", "data_scientist", "admin")


class ApiKey(BaseModel):
    key_id: str
    name: str
    role: Role
    sha256: str
    created: str
    revoked: bool = False


class Caller(BaseModel):
    key_id: str
    role: Role


def digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class KeyStore:
    """The keys file, read at start; ``authenticate`` never touches the disk."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self._keys = [k for k in keys if not k.revoked]

    @classmethod
    def load(cls, path: Path) -> KeyStore:
        return cls(read_keys(path))

    def authenticate(self, presented: str) -> Caller | None:
        wanted = digest(presented)
        match = None
        for key in self._keys:  # no early exit: time does not depend on which key matched
            if hmac.compare_digest(key.sha256, wanted):
                match = key
        return Caller(key_id=match.key_id, role=match.role) if match else None


def read_keys(path: Path) -> list[ApiKey]:
    if not path.is_file():
        return []
    return [ApiKey.model_validate(k) for k in json.loads(path.read_text(encoding="utf-8"))["keys"]]


def issue_key(path: Path, name: str, role: Role, key: str | None = None, replace: bool = False) -> tuple[str, str]:
    """Add a key (random unless given) to the keys file; return (key_id, key). The key is never stored.

    ``replace`` revokes earlier keys with the same name, so re-issuing the demo key does not pile up
    live credentials.
    """
    key = key or f"pmed_{secrets.token_urlsafe(32)}"
    keys = read_keys(path)
    if replace:
        keys = [k.model_copy(update={"revoked": True}) if k.name == name else k for k in keys]
    key_id = f"key_{secrets.token_hex(6)}"
    keys.append(ApiKey(key_id=key_id, name=name, role=role, sha256=digest(key),
                       created=datetime.now(UTC).isoformat(timespec="seconds")))
    _write_private(path, json.dumps({"keys": [k.model_dump() for k in keys]}, indent=2))
    return key_id, key


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)
