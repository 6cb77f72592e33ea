"""Append-only audit log of predictions: who asked, about which (pseudonymous) patient, with which model.

A record is flushed and fsynced before the prediction is returned; if it cannot be written the request
fails, so no prediction ever leaves unaudited. Patient ids sent by callers may be real identifiers
(MRNs), so only a keyed HMAC of them is stored; the key lives in pmed's secrets folder, not in the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from datetime import UTC, datetime
from pathlib import Path


class AuditError(Exception):
    """The audit record could not be made durable."""


class AuditLog:
    def __init__(self, path: Path, pseudonym_key: bytes) -> None:
        self._path = path
        self._events = path.with_name("events.jsonl")
        self._key = pseudonym_key
        self._lock = threading.Lock()

    @classmethod
    def open(cls, audit_dir: Path, secrets_dir: Path) -> AuditLog:
        audit_dir.mkdir(parents=True, exist_ok=True)
        return cls(audit_dir / "predictions.jsonl", load_or_create_secret(secrets_dir / "audit-pseudonym.key"))

    def pseudonym(self, patient_id: str) -> str:
        return hmac.new(self._key, patient_id.encode("utf-8"), hashlib.sha256).hexdigest()[:24]

    def record(self, records: list[dict[str, object]]) -> None:
        """Write prediction records durably or raise AuditError."""
        self._append(self._path, records)

    def event(self, record: dict[str, object]) -> None:
        """Write one administrative event (key issued or revoked, reload forced) durably or raise AuditError."""
        self._append(self._events, [record])

    def _append(self, path: Path, records: list[dict[str, object]]) -> None:
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        lines = "".join(json.dumps({"time": now, **r}, sort_keys=True) + "\n" for r in records)
        try:
            with self._lock:
                created = not path.exists()
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(lines)
                    handle.flush()
                    os.fsync(handle.fileno())
                if created:  # a new file is durable only once its directory entry is
                    _fsync_dir(path.parent)
        except OSError as exc:
            raise AuditError("audit log is not writable") from exc


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def load_or_create_secret(path: Path) -> bytes:
    """Read a 32-byte secret, creating it (owner-only) on first use; safe if two processes race."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(32))
    return path.read_bytes()
