"""The simulated EHR extracts written again as FHIR R4: bulk-export NDJSON or one Bundle per patient.

Written from the very text tables that became the CSV extracts (injected faults included), so the same
cohort read either way must give the same features. Systolic pressure is sent as US Core sends it: a
blood-pressure panel (LOINC 85354-9) whose component carries 8480-6. Values that are not numbers are
written as JSON strings: the malformed resources a real feed can carry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from features.ehr.fhir import EXTENSION, LOINC, UCUM

SYSTEM_URI = {"ICD-10-CM": "http://hl7.org/fhir/sid/icd-10-cm", "SNOMED CT": "http://snomed.info/sct",
              "RxNorm": "http://www.nlm.nih.gov/research/umls/rxnorm", "ATC": "http://www.whocc.no/atc"}
BP_PANEL = "85354-9"
VITAL_SIGNS = {"8480-6", "8462-4", "39156-5"}


EXTRACTS = ("patients.csv", "labs.csv", "diagnoses.csv", "medications.csv")


def write_fhir(raw_dir: Path, out_dir: Path, layout: str = "ndjson") -> list[Path]:
    """Write the EHR extracts in ``raw_dir`` as FHIR files in ``out_dir``; ``layout`` is ndjson or bundle.

    The extracts are read back as text, so every value is the very text the CSV reader sees.
    """
    tables = {name: pd.read_csv(raw_dir / name, dtype=str, keep_default_na=False) for name in EXTRACTS}
    resources = list(_resources(tables))
    out_dir.mkdir(parents=True, exist_ok=True)
    if layout == "ndjson":
        return _write_ndjson(resources, out_dir)
    if layout == "bundle":
        return _write_bundles(resources, out_dir)
    raise ValueError(f"layout must be ndjson or bundle, not {layout!r}")


def _resources(tables: dict[str, pd.DataFrame]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(patient_id, resource) in the row order of each extract."""
    for p in tables["patients.csv"].itertuples(index=False):
        yield p.patient_id, _patient(p)
    for i, row in enumerate(tables["labs.csv"].itertuples(index=False)):
        yield row.patient_id, _observation(i, row)
    for i, row in enumerate(tables["diagnoses.csv"].itertuples(index=False)):
        yield row.patient_id, {"resourceType": "Condition", "id": f"dx{i}", "subject": _subject(row.patient_id),
                               "code": {"coding": [{"system": SYSTEM_URI["ICD-10-CM"], "code": row.icd10}]},
                               "onsetDateTime": row.onset_date}
    for i, row in enumerate(tables["medications.csv"].itertuples(index=False)):
        yield row.patient_id, _medication(i, row)


def _patient(p: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": p.patient_id, "birthDate": p.birth_date,
            "gender": {"M": "male", "F": "female"}.get(p.sex, "unknown"),
            "extension": [{"url": EXTENSION["index_date"], "valueDate": p.index_date},
                          {"url": EXTENSION["ancestry"], "valueCode": p.ancestry},
                          {"url": EXTENSION["site"], "valueString": p.site}]}


def _observation(i: int, row: Any) -> dict[str, Any]:
    quantity = {"value": _number(row.value), "unit": row.unit, "system": UCUM, "code": row.unit}
    coding = {"coding": [{"system": LOINC, "code": row.loinc}]}
    category = "vital-signs" if row.loinc in VITAL_SIGNS else "laboratory"
    resource = {"resourceType": "Observation", "id": f"obs{i}", "status": "final",
                "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                          "code": category}]}],
                "subject": _subject(row.patient_id), "effectiveDateTime": row.effective_date}
    if row.loinc == "8480-6":
        return {**resource, "code": {"coding": [{"system": LOINC, "code": BP_PANEL}]},
                "component": [{"code": coding, "valueQuantity": quantity}]}
    return {**resource, "code": coding, "valueQuantity": quantity}


def _medication(i: int, row: Any) -> dict[str, Any]:
    drug = {"coding": [{"system": SYSTEM_URI["RxNorm"], "code": row.rxnorm, "display": row.drug_name}]}
    period = {"start": row.start_date, **({"end": row.end_date} if row.end_date else {})}
    if i % 2:
        return {"resourceType": "MedicationStatement", "id": f"ms{i}", "status": "active",
                "subject": _subject(row.patient_id), "medicationCodeableConcept": drug, "effectivePeriod": period}
    return {"resourceType": "MedicationRequest", "id": f"mr{i}", "status": "active", "intent": "order",
            "subject": _subject(row.patient_id), "medicationCodeableConcept": drug,
            "dispenseRequest": {"validityPeriod": period}}


def _subject(patient_id: str) -> dict[str, str]:
    return {"reference": f"Patient/{patient_id}"}


def _number(text: str) -> float | int | str:
    """The JSON number a FHIR decimal would carry; text that is no finite number stays a (bad) string."""
    try:
        value = float(text)
    except ValueError:
        return text
    if not math.isfinite(value):
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


def _write_ndjson(resources: list[tuple[str, dict[str, Any]]], out_dir: Path) -> list[Path]:
    handles: dict[str, Any] = {}
    try:
        for _, resource in resources:
            rtype = resource["resourceType"]
            if rtype not in handles:
                handles[rtype] = (out_dir / f"{rtype}.ndjson").open("w", encoding="utf-8")
            handles[rtype].write(json.dumps(resource, separators=(",", ":")) + "\n")
    finally:
        for handle in handles.values():
            handle.close()
    return sorted(out_dir / f"{rtype}.ndjson" for rtype in handles)


def _write_bundles(resources: list[tuple[str, dict[str, Any]]], out_dir: Path) -> list[Path]:
    """One collection Bundle per patient (in patients.csv order; references by urn:uuid fullUrl), and one
    for records whose patient is not in the patients file."""
    order = {pid: n for n, (pid, r) in enumerate(resources) if r["resourceType"] == "Patient"}
    grouped: dict[str, list[dict[str, Any]]] = {}
    for pid, resource in resources:
        grouped.setdefault(pid if pid in order else "", []).append(resource)
    paths = []
    for pid, group in grouped.items():
        name = f"patient-{order[pid]:07d}.json" if pid else "unmatched.json"
        full_url = f"urn:uuid:pmed-{order[pid]:07d}" if pid else ""
        entries = [{"fullUrl": full_url if r["resourceType"] == "Patient" else f"urn:uuid:{r['id']}",
                    "resource": _refer(r, full_url)} for r in group]
        (out_dir / name).write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries},
                                               separators=(",", ":")), encoding="utf-8")
        paths.append(out_dir / name)
    return paths


def _refer(resource: dict[str, Any], full_url: str) -> dict[str, Any]:
    """Inside a patient's Bundle, point the subject at the Patient entry's fullUrl, as Synthea does."""
    if full_url and "subject" in resource:
        return {**resource, "subject": {"reference": full_url}}
    return resource
