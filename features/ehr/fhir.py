"""FHIR R4 input: Bundles (JSON) and bulk-export NDJSON of Patient, Observation, Condition,
MedicationRequest and MedicationStatement.

Each resource is validated with the ``fhir.resources`` R4B models (its default models are R5, which reject
R4 data), then flattened into the text columns of the CSV contract (docs/data-contract.md), so the same
rules (features/ehr/*.py) judge CSV and FHIR alike. Text is taken from the JSON as sent, not re-rendered,
so a value reaches the rules exactly as it would from a CSV cell.

Every record is accounted for: a resource that is not JSON, has no known type, or fails validation is
quarantined here with file, row (NDJSON line, 1-based; Bundle entry index, 0-based as in
``Bundle.entry[i]``), field and rule; a resource of a type pmed does not read, or one marked
entered-in-error (or similar), is ignored with its reason; the rest are handed on, one row each (an
Observation's components become rows of their own, e.g. a blood-pressure panel).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import import_module
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from features.codes import code_sets, code_systems
from features.quarantine import Quarantine, SourceCounts

EXTENSION = {"index_date": "urn:pmed:index-date", "ancestry": "urn:pmed:ancestry", "site": "urn:pmed:site"}
MODELS = {"Patient": "patient", "Observation": "observation", "Condition": "condition",
          "MedicationRequest": "medicationrequest", "MedicationStatement": "medicationstatement"}
NOT_USABLE = {  # status values whose record does not describe the patient (FHIR R4 value sets)
    "Observation": ("status", {"registered", "preliminary", "cancelled", "entered-in-error", "unknown"}),
    "MedicationRequest": ("status", {"cancelled", "entered-in-error", "draft", "unknown"}),
    "MedicationStatement": ("status", {"entered-in-error", "not-taken", "unknown"}),
}
LOINC, UCUM = "http://loinc.org", "http://unitsofmeasure.org"
TABLES = {"Patient": "patients", "Observation": "labs", "Condition": "diagnoses",
          "MedicationRequest": "medication_requests", "MedicationStatement": "medication_statements"}
FIELDS = {  # CSV column -> the FHIR element it comes from, for the quarantine
    "patients": {"patient_id": "id", "birth_date": "birthDate", "sex": "gender",
                 "index_date": f"extension({EXTENSION['index_date']})",
                 "ancestry": f"extension({EXTENSION['ancestry']})", "site": f"extension({EXTENSION['site']})"},
    "labs": {"patient_id": "subject", "loinc": "code", "value": "valueQuantity.value", "unit": "valueQuantity.code",
             "effective_date": "effective[x]"},
    "diagnoses": {"patient_id": "subject", "code": "code.coding.code", "code_system": "code.coding.system",
                  "onset_date": "onset[x]"},
    "medication_requests": {"patient_id": "subject", "code": "medicationCodeableConcept.coding.code",
                            "code_system": "medicationCodeableConcept.coding.system",
                            "start_date": "dispenseRequest.validityPeriod.start",
                            "end_date": "dispenseRequest.validityPeriod.end"},
    "medication_statements": {"patient_id": "subject", "code": "medicationCodeableConcept.coding.code",
                              "code_system": "medicationCodeableConcept.coding.system",
                              "start_date": "effective[x]", "end_date": "effectivePeriod.end"},
}


@dataclass
class FhirInput:
    """Resources read from FHIR files as CSV-contract text tables, and the resource-level counts."""

    tables: dict[str, pd.DataFrame]
    counts: SourceCounts
    fields: dict[str, dict[str, str]] = field(default_factory=lambda: FIELDS)


@dataclass
class _Record:
    source_file: str
    row: int
    resource: Any  # parsed JSON, or None when the text was not JSON
    full_urls: dict[str, str]  # Bundle fullUrl -> Patient id, to resolve urn:uuid references


def read_fhir(path: Path, quarantine: Quarantine) -> FhirInput:
    """Read one FHIR file (Bundle ``.json`` or ``.ndjson``) or every such file in a folder, in name order."""
    files = sorted(p for p in path.iterdir() if p.name.endswith((".json", ".ndjson"))) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"{path}: no .json (Bundle) or .ndjson files")
    rows: dict[str, list[dict[str, str | int]]] = {name: [] for name in TABLES.values()}
    counts = SourceCounts("FHIR resources", rows_in=0)
    for record in (r for f in files for r in _records(f)):
        counts.rows_in += 1
        problem = _judge(record)
        if problem is None:
            counts.rows_used += 1
            rtype = record.resource["resourceType"]
            rows[TABLES[rtype]] += _flatten(rtype, record)
        elif problem[0] == "ignore":
            counts.ignored[problem[1]] += 1
        else:
            counts.rows_quarantined += 1
            quarantine.add(record.source_file, pd.Series([record.row]).to_numpy(), problem[0], problem[1])
    tables = {name: _frame(name, found) for name, found in rows.items()}
    return FhirInput(tables, counts.check())


def _records(path: Path) -> Iterator[_Record]:
    if path.name.endswith(".ndjson"):
        with path.open(encoding="utf-8") as handle:
            for line_number, line in enumerate(handle, start=1):
                if line.strip():
                    yield _Record(path.name, line_number, _json(line), {})
        return
    bundle = _json(path.read_text(encoding="utf-8"))
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" \
            or not isinstance(bundle.get("entry", []), list):
        yield _Record(path.name, 0, _NOT_A_BUNDLE, {})
        return
    entries = [e if isinstance(e, dict) else {} for e in bundle.get("entry", [])]
    full_urls = {e["fullUrl"]: e["resource"].get("id", "") for e in entries
                 if isinstance(e.get("resource"), dict) and e["resource"].get("resourceType") == "Patient"
                 and isinstance(e.get("fullUrl"), str)}
    for index, entry in enumerate(entries):
        yield _Record(path.name, index, entry.get("resource"), full_urls)


_NOT_JSON, _NOT_A_BUNDLE = object(), object()


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return _NOT_JSON


def _judge(record: _Record) -> tuple[str, str] | None:
    """None when the resource is handed on; else ('ignore', reason) or (field, rule) to quarantine."""
    resource = record.resource
    if resource is _NOT_JSON:
        return "(record)", "not valid JSON"
    if resource is _NOT_A_BUNDLE:
        return "Bundle", "a .json file must be a FHIR Bundle with an entry list"
    if not isinstance(resource, dict):
        return "Bundle.entry.resource", "entry has no resource object"
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        return "resourceType", "resourceType is missing"
    if rtype not in MODELS:
        return "ignore", "resource type not read by pmed"
    model = import_module(f"fhir.resources.R4B.{MODELS[rtype]}").__dict__[rtype]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]
                        if part != "__root__").lstrip(".")
        return f"{rtype}.{where}" if where else rtype, f"fails FHIR R4 validation: {first['msg'][:90]}"
    if rtype in NOT_USABLE and resource.get(NOT_USABLE[rtype][0]) in NOT_USABLE[rtype][1]:
        return "ignore", f"{rtype}.status does not describe the patient"
    status = _coding_code(resource.get("verificationStatus"))
    if rtype == "Condition" and status in {"refuted", "entered-in-error"}:
        return "ignore", "Condition.verificationStatus refuted or entered-in-error"
    return None


def _flatten(rtype: str, record: _Record) -> list[dict[str, str | int]]:
    r = record.resource
    at: dict[str, str | int] = {"_file": record.source_file, "_line": record.row, "_path": rtype}
    if rtype == "Patient":
        ext = {e.get("url"): e for e in r.get("extension", [])}
        sex = {"male": "M", "female": "F"}.get(r.get("gender", ""), r.get("gender", ""))
        return [{**at, "patient_id": r.get("id", ""), "birth_date": r.get("birthDate", ""), "sex": sex,
                 **{k: _text(ext.get(url, {}), ("valueDate", "valueCode", "valueString"))
                    for k, url in EXTENSION.items()}}]
    subject = _patient_id(r.get("subject"), record.full_urls)
    if rtype == "Observation":
        when = _date(_text(r, ("effectiveDateTime", "effectiveInstant")) or _text(r.get("effectivePeriod"), ("start",)))
        rows: list[dict[str, str | int]] = [{**at, **_quantity(r), "patient_id": subject, "effective_date": when}]
        return rows + [{**at, **_quantity(c), "_path": f"Observation.component[{i}]", "patient_id": subject,
                        "effective_date": when} for i, c in enumerate(r.get("component", []))]
    if rtype == "Condition":
        code, system = _pick_coding(r.get("code"), ("ICD-10-CM", "SNOMED CT"))
        onset = _text(r, ("onsetDateTime",)) or _text(r.get("onsetPeriod"), ("start",)) or _text(r, ("recordedDate",))
        return [{**at, "patient_id": subject, "code": code, "code_system": system, "onset_date": _date(onset)}]
    code, system = _pick_coding(r.get("medicationCodeableConcept"), ("RxNorm", "ATC"))
    if rtype == "MedicationRequest":
        period = (r.get("dispenseRequest") or {}).get("validityPeriod") or {}
        start, end = _text(period, ("start",)) or _text(r, ("authoredOn",)), _text(period, ("end",))
    else:
        period = r.get("effectivePeriod") or {}
        start, end = _text(period, ("start",)) or _text(r, ("effectiveDateTime",)), _text(period, ("end",))
    return [{**at, "patient_id": subject, "code": code, "code_system": system,
             "start_date": _date(start), "end_date": _date(end)}]


def _frame(name: str, rows: list[dict[str, str | int]]) -> pd.DataFrame:
    columns = ["_file", "_line", "_path", *FIELDS[name]]
    frame = pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
    text = [c for c in columns if c != "_line"]
    return frame.astype(dict.fromkeys(text, str)).astype({"_line": "int64"}).reset_index(drop=True)


def _text(node: Any, keys: tuple[str, ...]) -> str:
    """The first of ``keys`` present in a JSON object, as text exactly as sent (numbers via repr)."""
    if not isinstance(node, dict):
        return ""
    for key in keys:
        if node.get(key) is not None:
            return str(node[key])
    return ""


def _date(text: str) -> str:
    """The calendar date of a FHIR date or dateTime as written (``2015-06-30T09:00:00+02:00`` -> 2015-06-30).

    A partial date (``2015`` or ``2015-06``) stays partial, so the date rule quarantines it.
    """
    return text[:10] if len(text) > 10 and text[10] == "T" else text


def _quantity(node: dict[str, Any]) -> dict[str, str]:
    codings = (node.get("code") or {}).get("coding", [])
    loinc = next((c.get("code", "") for c in codings if c.get("system") == LOINC), "")
    quantity = node.get("valueQuantity") or {}
    unit = _text(quantity, ("code",)) if quantity.get("system") == UCUM else ""
    return {"loinc": loinc, "value": _text(quantity, ("value",)), "unit": unit or _text(quantity, ("unit",))}


def _patient_id(reference: Any, full_urls: dict[str, str]) -> str:
    """Patient id from ``Patient/<id>``, an absolute ``.../Patient/<id>`` URL, or a Bundle ``urn:uuid:`` fullUrl."""
    ref = reference.get("reference", "") if isinstance(reference, dict) else ""
    if not isinstance(ref, str):
        return ""
    if ref in full_urls:
        return full_urls[ref]
    parts = ref.split("/")
    return parts[-1] if len(parts) >= 2 and parts[-2] == "Patient" else ""


def _coding_code(concept: Any) -> str:
    codings = concept.get("coding", []) if isinstance(concept, dict) else []
    return codings[0].get("code", "") if codings else ""


def _pick_coding(concept: Any, systems: tuple[str, ...]) -> tuple[str, str]:
    """(code, system name) of the coding to judge: one in a pmed code set first, else the first of a wanted
    system, else the first coding at all (its unknown system is then quarantined by the shared rule)."""
    codings = [c for c in (concept or {}).get("coding", []) if isinstance(c, dict)]
    named = [(str(c.get("code", "")), code_systems().get(c.get("system", ""), str(c.get("system", ""))))
             for c in codings]
    for pick in ([n for n in named if _in_code_set(*n)], [n for n in named if n[1] in systems], named):
        if pick:
            return pick[0]
    return "", ""


def _in_code_set(code: str, system: str) -> bool:
    exact, prefixes = _code_set_index(system)
    return code.upper() in exact or (bool(prefixes) and code.upper().startswith(prefixes))


@cache
def _code_set_index(system: str) -> tuple[frozenset[str], tuple[str, ...]]:
    sets = code_sets()
    members = sets[sets["system"] == system]
    return (frozenset(members.loc[members["match"] == "exact", "code"].str.upper()),
            tuple(members.loc[members["match"] == "prefix", "code"].str.upper()))
