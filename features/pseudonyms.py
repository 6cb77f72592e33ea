"""Pseudonymous patient keys: random codes, kept apart from the data in a link file.

A key is random (not a hash of the identifier, which anyone holding the identifier could recompute), so
the feature table alone cannot be linked back to a patient. The link file is the re-identification key:
keep it where patient identifiers are allowed, never beside the models. It is reused and extended on
every build, so a patient keeps the same key and stays in the same train/test part across rebuilds.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import pandas as pd


def assign_keys(patient_ids: pd.Index, link_path: Path) -> pd.Series:
    """patient_id -> patient_key for every id, creating keys for ids not yet in the link file."""
    known = _read(link_path)
    new_ids = [pid for pid in patient_ids if pid not in known.index]
    taken = set(known.values)
    fresh = {}
    for pid in new_ids:
        key = f"pk_{secrets.token_hex(8)}"
        while key in taken:
            key = f"pk_{secrets.token_hex(8)}"
        taken.add(key)
        fresh[pid] = key
    links = pd.concat([known, pd.Series(fresh, dtype=str)])
    if fresh:
        _write(links, link_path)
    return links.reindex(patient_ids)


def _read(path: Path) -> pd.Series:
    if not path.is_file():
        return pd.Series(dtype=str)
    frame = pd.read_csv(path, dtype=str)
    return pd.Series(frame["patient_key"].to_numpy(), index=frame["patient_id"].to_numpy(), dtype=str)


def _write(links: pd.Series, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        pd.DataFrame({"patient_id": links.index, "patient_key": links.values}).to_csv(handle, index=False)
    tmp.replace(path)
