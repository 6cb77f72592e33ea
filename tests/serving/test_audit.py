"""The audit log under concurrent requests: every record written once, whole, and made durable by a
shared fsync (group commit) rather than one fsync per request in turn."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from serving.audit import AuditError, AuditLog


def test_concurrent_records_are_all_written_whole_and_share_fsyncs(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    log = AuditLog.open(tmp_path / "audit", tmp_path / "secrets")
    log.record([{"request_id": "first"}])  # creates the file (and fsyncs its folder)
    calls = []
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:  # a disk that takes 20 ms per flush, as a busy one does
        calls.append(fd)
        time.sleep(0.005)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    threads, per_thread = 8, 25

    def writer(t: int) -> None:
        for i in range(per_thread):
            log.record([{"request_id": f"{t}-{i}", "patient_key": log.pseudonym(f"p{t}-{i}")}])

    workers = [threading.Thread(target=writer, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    lines = (tmp_path / "audit" / "predictions.jsonl").read_text().splitlines()
    ids = [json.loads(line)["request_id"] for line in lines]
    assert sorted(ids[1:]) == sorted(f"{t}-{i}" for t in range(threads) for i in range(per_thread))
    assert len(calls) < threads * per_thread / 2  # grouped: far fewer fsyncs than records


def test_a_record_is_fsynced_before_record_returns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = AuditLog.open(tmp_path / "audit", tmp_path / "secrets")
    log.record([{"request_id": "first"}])
    synced_sizes = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced_sizes.append(os.fstat(fd).st_size), real_fsync(fd)))
    log.record([{"request_id": "second"}])
    assert synced_sizes == [(tmp_path / "audit" / "predictions.jsonl").stat().st_size]


def test_unwritable_log_raises(tmp_path: Path) -> None:
    with pytest.raises(AuditError):
        AuditLog(tmp_path, b"k" * 32).record([{"request_id": "x"}])  # the path is a folder
