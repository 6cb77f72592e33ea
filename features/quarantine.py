"""Quarantine: every rejected record is written down with file, row, field and rule, never dropped.

A ``SourceCheck`` walks one raw table through its rules. Each rule takes a mask of offending rows; those
rows (not already rejected) are quarantined with that rule and removed, so each rejected record appears
once, under the first rule it broke. The record's values are not copied (they may identify the patient):
the file and row point to it in the raw data, which is never rewritten.

The same rules serve CSV extracts and FHIR resources: a FHIR reader hands over the same text columns with
``_file`` / ``_row`` (NDJSON line or Bundle entry index) and ``_path`` (e.g. ``Observation.component[0]``)
per row, and ``fields`` names the FHIR element behind each column, so the quarantine names the element.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

QUARANTINE_COLUMNS = ["source_file", "row", "field", "rule"]


@dataclass
class Quarantine:
    """Rejected records of one build, across all sources."""

    _frames: list[pd.DataFrame] = field(default_factory=list)

    def add(self, source_file: str | np.ndarray, rows: np.ndarray, field_name: str | np.ndarray, rule: str) -> None:
        if len(rows):
            self._frames.append(pd.DataFrame({"source_file": source_file, "row": rows.astype(np.int64),
                                              "field": field_name, "rule": rule}))

    def frame(self) -> pd.DataFrame:
        if not self._frames:
            return pd.DataFrame(columns=QUARANTINE_COLUMNS)
        return pd.concat(self._frames, ignore_index=True).sort_values(["source_file", "row"], kind="stable")

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.frame().to_csv(path, index=False)


@dataclass
class SourceCounts:
    """rows_in == rows_used + rows_ignored + rows_quarantined, checked by ``check``."""

    source_file: str
    rows_in: int
    rows_used: int = 0
    rows_quarantined: int = 0
    ignored: Counter[str] = field(default_factory=Counter)

    @property
    def rows_ignored(self) -> int:
        return sum(self.ignored.values())

    def check(self) -> SourceCounts:
        total = self.rows_used + self.rows_ignored + self.rows_quarantined
        if total != self.rows_in:
            raise AssertionError(f"{self.source_file}: {self.rows_in} rows in but {total} accounted for")
        return self


class SourceCheck:
    """Apply rules to one raw table.

    CSV rows carry their 1-based line number in the file (header = 1). A table from several files (FHIR)
    brings its own ``_file`` and ``_row`` columns, and ``_path``, the element path prefix of each row.
    """

    def __init__(self, source_file: str, frame: pd.DataFrame, quarantine: Quarantine,
                 first_data_line: int = 2, fields: dict[str, str] | None = None) -> None:
        self.source_file = source_file
        self.frame = frame if "_line" in frame else frame.assign(_line=np.arange(len(frame)) + first_data_line)
        self.quarantine = quarantine
        self.fields = fields or {}
        self.counts = SourceCounts(source_file, rows_in=len(frame))

    def reject(self, mask: pd.Series | np.ndarray, field_name: str, rule: str) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        rejected = self.frame[mask]
        files = rejected["_file"].to_numpy() if "_file" in rejected else self.source_file
        where = self.fields.get(field_name, field_name)
        fields = (rejected["_path"] + "." + where).to_numpy() if "_path" in rejected else where
        self.quarantine.add(files, rejected["_line"].to_numpy(), fields, rule)
        self.counts.rows_quarantined += int(mask.sum())
        self.frame = self.frame[~mask]

    def ignore(self, mask: pd.Series | np.ndarray, reason: str) -> None:
        """Drop valid rows that this build does not need (e.g. after the index date), counted by reason."""
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.counts.ignored[reason] += int(mask.sum())
        self.frame = self.frame[~mask]

    def finish(self) -> pd.DataFrame:
        self.counts.rows_used = len(self.frame)
        self.counts.check()
        return self.frame.drop(columns=[c for c in ("_line", "_file", "_path") if c in self.frame])
