"""The coded column pair (code, code_system) shared by diagnoses and medications.

Extracts name the system per row (``code_system``: ICD-10-CM or SNOMED CT; RxNorm or ATC). A legacy
single-system column (``icd10``, ``rxnorm``) is read as that system, and the quarantine names that column.
"""

from __future__ import annotations

import pandas as pd

from features.parsing import blank
from features.quarantine import SourceCheck


def with_code_columns(frame: pd.DataFrame, legacy: str, system: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """The frame with ``code`` and ``code_system``, and the field names to report for them."""
    if "code" in frame.columns and "code_system" in frame.columns:
        return frame, {}
    if legacy in frame.columns:
        return frame.assign(code=frame[legacy], code_system=system), {"code": legacy, "code_system": legacy}
    raise ValueError(f"need columns code and code_system (or {legacy})")


def check_codes(check: SourceCheck, systems: tuple[str, ...]) -> None:
    check.reject(blank(check.frame["code"]), "code", "code is empty")
    check.reject(~check.frame["code_system"].str.strip().isin(systems), "code_system",
                 f"code_system must be {' or '.join(systems)}")
    check.frame = check.frame.assign(code_system=check.frame["code_system"].str.strip())
