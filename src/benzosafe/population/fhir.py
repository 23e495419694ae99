"""FHIR R4 bulk-export NDJSON (MedicationDispense) as dispensing records.

A file or a folder of ``*.ndjson`` files is read line by line. ``MedicationDispense``
resources with status ``completed`` (or no status) become records; ``Patient`` resources
give birth dates; ``MedicationRequest`` resources give the prescriber (``requester``) of a
dispense's ``authorizingPrescription`` (a dispense itself names no prescriber). The drug is
the first coding whose code the drug map knows, else the coding's display or the text,
so that a product code outside the map is classified by its ingredient name. The strength
is read from that text ("clonazePAM 0.25 MG Oral Tablet") when it gives one in mg or mcg.
Lines that are not JSON and dispenses not completed are counted, not dropped silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path
from typing import Any

from benzosafe.errors import InvalidInput, UnitError
from benzosafe.population.drugs import normalise_key
from benzosafe.population.records import DispensingRecord
from benzosafe.units import parse_mass

_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*(MG|MCG)\b", re.IGNORECASE)


def _ref(value: Any) -> str | None:
    if isinstance(value, dict) and isinstance(value.get("reference"), str):
        return str(value["reference"]).rsplit("/", 1)[-1]
    return None


def _number(value: Any) -> Any:
    return value.get("value") if isinstance(value, dict) else None


def strength_in_text(text: str) -> Decimal | None:
    """The first "N MG" / "N MCG" of a product name, in mg; None when it gives none."""
    match = _STRENGTH.search(text)
    if not match:
        return None
    try:
        return parse_mass(f"{match.group(1)} {match.group(2).lower()}", "strength")
    except UnitError:
        return None


def _drug(resource: dict[str, Any], known: set[str]) -> tuple[str, Decimal | None]:
    concept = resource.get("medicationCodeableConcept") or {}
    codings = [c for c in concept.get("coding", []) if isinstance(c, dict)]
    text = str(concept.get("text") or next((c.get("display") for c in codings), "") or "")
    strength = strength_in_text(text)
    for coding in codings:
        code = str(coding.get("code") or "")
        if code and normalise_key(code) in known:
            return code, strength
    if text:
        return text, strength
    return str(codings[0].get("code") or "") if codings else "", strength


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(path.glob("*.ndjson"))
    if not path.exists():
        raise InvalidInput("input", f"{path} does not exist")
    return [path]


def _resources(files: Iterable[Path], skipped: dict[str, int]) -> Iterable[dict[str, Any]]:
    for file in files:
        with file.open(encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    resource = json.loads(line)
                except json.JSONDecodeError:
                    skipped["fhir_bad_json"] = skipped.get("fhir_bad_json", 0) + 1
                    continue
                if isinstance(resource, dict):
                    yield resource
                else:
                    skipped["fhir_bad_json"] = skipped.get("fhir_bad_json", 0) + 1


def read_fhir_dispenses(
    path: Path, known_drugs: set[str]
) -> tuple[list[DispensingRecord], dict[str, int]]:
    """Records from MedicationDispense NDJSON, and the lines skipped by reason."""
    skipped: dict[str, int] = {}
    births: dict[str, str] = {}
    requesters: dict[str, str] = {}
    dispenses: list[dict[str, Any]] = []
    for res in _resources(_files(path), skipped):
        kind = res.get("resourceType")
        if kind == "Patient" and isinstance(res.get("birthDate"), str):
            births[str(res.get("id"))] = res["birthDate"]
        elif kind == "MedicationRequest":
            requester = _ref(res.get("requester"))
            if requester:
                requesters[str(res.get("id"))] = requester
        elif kind == "MedicationDispense":
            dispenses.append(res)
    records = []
    for res in dispenses:
        if res.get("status") not in (None, "completed"):
            skipped["fhir_not_completed"] = skipped.get("fhir_not_completed", 0) + 1
            continue
        patient = _ref(res.get("subject")) or ""
        when = res.get("whenHandedOver") or res.get("whenPrepared")
        drug, strength = _drug(res, known_drugs)
        prescriptions = [_ref(p) for p in res.get("authorizingPrescription", [])]
        prescriber = next((requesters[p] for p in prescriptions if p in requesters), None)
        performers = [_ref(p.get("actor")) for p in res.get("performer", []) if isinstance(p, dict)]
        pharmacy = _ref(res.get("location")) or next((p for p in performers if p), None)
        quantity, days = _number(res.get("quantity")), _number(res.get("daysSupply"))
        records.append(
            DispensingRecord(
                fill_id=str(res.get("id") or ""),
                patient_id=patient,
                birth_date=births.get(patient),
                fill_date=str(when)[:10] if when else None,
                drug=drug,
                quantity=float(quantity) if isinstance(quantity, int | float) else None,
                days_supply=int(days) if isinstance(days, int | float) else None,
                strength_mg=float(strength) if strength is not None else None,
                prescriber_id=prescriber,
                pharmacy_id=pharmacy,
            )
        )
    return records, skipped
