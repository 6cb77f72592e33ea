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
        self._lock = threading.Lock()  # one append at a time
        self._sync_lock = threading.Lock()  # one fsync at a time; it covers every append flushed before it
        self._appended: dict[Path, int] = {}  # appends flushed so far, per file
        self._synced: dict[Path, tuple[int, int]] = {}  # (inode, appends known durable), per file

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
                handle = path.open("a", encoding="utf-8")
                try:
                    handle.write(lines)
                    handle.flush()
                    if created:  # a new file is durable only once its directory entry is
                        os.fsync(handle.fileno())
                        _fsync_dir(path.parent)
                except BaseException:
                    handle.close()
                    raise
                ticket = self._appended[path] = self._appended.get(path, 0) + 1
            with handle:
                self._sync(path, handle.fileno(), ticket)
        except OSError as exc:
            raise AuditError("audit log is not writable") from exc

    def _sync(self, path: Path, fd: int, ticket: int) -> None:
        """Group commit: fsync, unless an fsync that began after this append was flushed already covered it.

        Under concurrent requests one fsync then makes many appends durable, instead of each request
        waiting in turn for its own fsync behind the lock; every record is still durable before it returns.
        """
        inode = os.fstat(fd).st_ino
        with self._sync_lock:
            synced_inode, synced = self._synced.get(path, (-1, 0))
            if synced_inode == inode and synced >= ticket:
                return
            with self._lock:
                flushed = self._appended[path]  # every append counted here is in the page cache already
            os.fsync(fd)
            self._synced[path] = (inode, flushed)


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
