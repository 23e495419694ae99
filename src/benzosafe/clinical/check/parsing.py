"""Parsing of the public JSON shape of an order and a patient into typed values.

:func:`parse_order` and :func:`parse_patient` refuse unknown keys and wrong types with an
error naming the field; :func:`resolve_condition` maps a condition id or synonym to the
documented id; :func:`coded_indication` and :func:`coded_condition` map a SNOMED CT or
ICD-10-CM code (an EHR's reasonCode or Condition) to an indication or a condition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any

from benzosafe.clinical.check.model import Order, Patient
from benzosafe.clinical.medications import liquid_dose_mg, parse_co_medication
from benzosafe.errors import InvalidInput
from benzosafe.units import (
    MAX_AGE_YEARS,
    parse_daily_dose,
    parse_frequency,
    parse_mass,
    parse_weight,
)

if TYPE_CHECKING:
    from benzosafe.knowledge.models import KnowledgeBase

_ORDER_KEYS = {
    "drug",
    "dose",
    "frequency",
    "indication",
    "start",
    "issued",
    "duration_days",
    "refills",
    "days_supply",
    "prior_dose",
    "prior_start",
}
_PATIENT_KEYS = {"age", "weight", "conditions", "also_taking"}


def _no_unknown_keys(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise InvalidInput(f"{where}.{unknown[0]}", "unknown field", sorted(allowed))


def _text(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"{where}.{key}", "is required and must be text")
    return value


def _optional_date(data: Mapping[str, Any], key: str, where: str) -> date | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidInput(f"{where}.{key}", f"{value!r} is not a date (YYYY-MM-DD)") from exc


def _optional_int(data: Mapping[str, Any], key: str, where: str, low: int, high: int) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{where}.{key}", f"{value!r} is not a whole number")
    if not low <= value <= high:
        raise InvalidInput(f"{where}.{key}", f"{value} is outside {low}-{high}")
    return value


_VOLUME = re.compile(r"(\d*\.?\d+)\s*ml")


def parse_order(data: Mapping[str, Any], kb: KnowledgeBase) -> Order:
    """Parse the public JSON shape of an order; every field error names the field."""
    where = "order"
    _no_unknown_keys(data, _ORDER_KEYS, where)
    indication = _text(data, "indication", where)
    if indication not in kb.indications:
        raise InvalidInput(
            f"{where}.indication", f"unknown indication {indication!r}", kb.indications
        )
    prior = data.get("prior_dose")
    drug = _text(data, "drug", where)
    dose_text = _text(data, "dose", where)
    volume = _VOLUME.fullmatch(dose_text.strip().lower())
    if volume:  # a liquid by volume: mg from the product's concentration, or not evaluated
        dose_mg, dose_note = liquid_dose_mg(kb, drug, Decimal(volume[1]), f"{where}.drug")
    else:
        dose_mg, dose_note = parse_mass(dose_text, f"{where}.dose"), ""
    return Order(
        drug=drug,
        dose_mg=dose_mg,
        dose_note=dose_note,
        frequency=parse_frequency(_text(data, "frequency", where), f"{where}.frequency"),
        indication=indication,
        start=_optional_date(data, "start", where),
        issued=_optional_date(data, "issued", where),
        duration_days=_optional_int(data, "duration_days", where, 1, 3650),
        refills=_optional_int(data, "refills", where, 0, 99) or 0,
        days_supply=_optional_int(data, "days_supply", where, 1, 365),
        prior_daily_mg=(
            parse_daily_dose(_text(data, "prior_dose", where), f"{where}.prior_dose")
            if prior is not None
            else None
        ),
        prior_start=_optional_date(data, "prior_start", where),
    )


def resolve_condition(kb: KnowledgeBase, text: str, field_name: str) -> str:
    """The documented condition id for an id or synonym, or a clear error."""
    key = text.strip().lower().replace(" ", "-").replace("_", "-")
    for cond in kb.conditions.values():
        if key == cond.id or key in cond.synonyms:
            return cond.id
    raise InvalidInput(field_name, f"unknown condition {text!r}", sorted(kb.conditions))


SYSTEMS = {
    "http://snomed.info/sct": "snomed",
    "http://hl7.org/fhir/sid/icd-10-cm": "icd-10-cm",
}


@cache
def _codes(kb: KnowledgeBase) -> dict[tuple[str, str], tuple[str, str]]:
    """(system, code without its dot) -> ("indication" or "condition", id)."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for ind in kb.indications.values():
        for c in ind.codes:
            out[(c.system, c.code.replace(".", ""))] = ("indication", ind.id)
    for cond in kb.conditions.values():
        for c in cond.codes:
            out[(c.system, c.code.replace(".", ""))] = ("condition", cond.id)
    return out


def _coded(kb: KnowledgeBase, system: str, code: str, kind: str) -> str | None:
    """What a code means: SNOMED CT exactly; ICD-10-CM by the longest listed code that the
    code starts with (a category covers its subcodes: G40.909 is under G40)."""
    short = SYSTEMS.get(system.strip().rstrip("/"))
    if short is None:
        return None
    key = code.strip().upper().replace(".", "")
    table = _codes(kb)
    lengths = range(len(key), 2, -1) if short == "icd-10-cm" else (len(key),)
    for n in lengths:
        found = table.get((short, key[:n]))
        if found is not None:
            return found[1] if found[0] == kind else None
    return None


def coded_indication(kb: KnowledgeBase, system: str, code: str) -> str | None:
    """The indication id a SNOMED CT or ICD-10-CM code means, or None."""
    return _coded(kb, system, code, "indication")


def coded_condition(kb: KnowledgeBase, system: str, code: str) -> str | None:
    """The condition id a SNOMED CT or ICD-10-CM code means, or None."""
    return _coded(kb, system, code, "condition")


def parse_patient(data: Mapping[str, Any], kb: KnowledgeBase) -> Patient:
    """Parse the public JSON shape of a patient; every field error names the field."""
    where = "patient"
    _no_unknown_keys(data, _PATIENT_KEYS, where)
    age = data.get("age")
    if isinstance(age, bool) or not isinstance(age, int | float | str):
        raise InvalidInput(f"{where}.age", "is required: age in years, e.g. 42")
    try:
        age_years = Decimal(str(age))
    except ArithmeticError as exc:
        raise InvalidInput(f"{where}.age", f"{age!r} is not a number of years") from exc
    if not Decimal(0) <= age_years <= MAX_AGE_YEARS:
        raise InvalidInput(
            f"{where}.age", f"{age!r} is not a plausible age in years (0-{MAX_AGE_YEARS})"
        )
    weight = data.get("weight")
    if weight is not None and not isinstance(weight, str):
        raise InvalidInput(f"{where}.weight", "must be text with a unit, e.g. '60 kg'")
    conditions = data.get("conditions") or []
    also = data.get("also_taking") or []
    for key, value in (("conditions", conditions), ("also_taking", also)):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidInput(f"{where}.{key}", "must be a list of text")
    return Patient(
        age_years=age_years,
        weight_kg=parse_weight(weight, f"{where}.weight") if weight is not None else None,
        conditions=tuple(
            resolve_condition(kb, c, f"{where}.conditions[{i}]") for i, c in enumerate(conditions)
        ),
        also_taking=tuple(
            parse_co_medication(kb, m, f"{where}.also_taking[{i}]") for i, m in enumerate(also)
        ),
    )
