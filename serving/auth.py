"""API keys: random bearer tokens stored only as SHA-256 digests, each with an id and a role.

Keys carry 256 bits of randomness, so a plain SHA-256 digest is enough to make a leaked keys file
useless to an attacker; comparison is constant-time. The key id (not the key) goes to the audit log.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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
    """The keys file, kept in memory and re-read whenever the file changes.

    Every ``authenticate`` stats the file (about a microsecond) and re-reads it when its identity
    changed, so a key issued or revoked by the admin API, the CLI or another server process takes
    effect on the next request without a restart. Writes replace the file atomically.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._keys: list[ApiKey] = []
        self.refresh()

    @classmethod
    def load(cls, path: Path) -> KeyStore:
        return cls(path)

    def refresh(self, force: bool = False) -> None:
        """Re-read the keys file if it changed since the last read (or vanished), or when forced."""
        try:
            st = self._path.stat()
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp and not force:
            return
        with self._lock:
            self._keys = read_keys(self._path)
            self._stamp = stamp

    def authenticate(self, presented: str) -> Caller | None:
        self.refresh()
        wanted = digest(presented)
        match = None
        for key in self._keys:  # no early exit: time does not depend on which key matched
            if hmac.compare_digest(key.sha256, wanted) and not key.revoked:
                match = key
        return Caller(key_id=match.key_id, role=match.role) if match else None

    def list(self) -> list[ApiKey]:
        self.refresh()
        return list(self._keys)

    def issue(self, name: str, role: Role) -> tuple[ApiKey, str]:
        key_id, key = issue_key(self._path, name, role)
        self.refresh(force=True)
        return next(k for k in self._keys if k.key_id == key_id), key

    def revoke(self, key_id: str) -> ApiKey | None:
        revoked = revoke_key(self._path, key_id)
        self.refresh(force=True)
        return revoked


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
    key_id = f"key_{secrets.token_hex(6)}"
    with _locked(path):
        keys = read_keys(path)
        if replace:
            keys = [k.model_copy(update={"revoked": True}) if k.name == name else k for k in keys]
        keys.append(ApiKey(key_id=key_id, name=name, role=role, sha256=digest(key),
                           created=datetime.now(UTC).isoformat(timespec="seconds")))
        _write_private(path, json.dumps({"keys": [k.model_dump() for k in keys]}, indent=2))
    return key_id, key


def revoke_key(path: Path, key_id: str) -> ApiKey | None:
    """Mark a key revoked (kept in the file, so the audit trail's key ids stay resolvable)."""
    with _locked(path):
        keys = read_keys(path)
        found = next((k for k in keys if k.key_id == key_id), None)
        if found is None:
            return None
        keys = [k.model_copy(update={"revoked": True}) if k.key_id == key_id else k for k in keys]
        _write_private(path, json.dumps({"keys": [k.model_dump() for k in keys]}, indent=2))
    return found.model_copy(update={"revoked": True})


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock beside the keys file: the CLI and server processes may write concurrently."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)
