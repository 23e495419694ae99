"""Reading a MedicationRequest's JSON: only the elements benzosafe reads, each type-checked.

The CDS Hooks hot path reads a dozen elements of each MedicationRequest; validating whole
resources with the R4B models cost more than everything else in a call but the signature
check (issue #17). Here each element that is read is checked against its FHIR R4 type (text,
code, id, dateTime, decimal, positiveInt, unsignedInt, and the shapes of CodeableConcept,
Reference, Quantity, Timing, Period), the elements R4 requires (``status``, ``intent``,
``subject``) must be there, and anything else is left unread. Null, ``""``, ``[]`` and ``{}``
(which FHIR JSON forbids and STU3 senders use) count as absent. A value of the wrong type is an
:class:`~benzosafe.errors.InvalidInput` naming its place (``where.dosageInstruction.0...``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from benzosafe.errors import InvalidInput

_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_CODE = re.compile(r"[^\s]+( [^\s]+)*")
_DATE_TIME = re.compile(
    r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
    r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
    r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?"
    r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?"
)


@dataclass(frozen=True, slots=True)
class Coding:
    system: str | None
    code: str | None
    display: str | None


@dataclass(frozen=True, slots=True)
class Concept:
    coding: tuple[Coding, ...]
    text: str | None


@dataclass(frozen=True, slots=True)
class Dose:
    value: Decimal | None
    unit: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class Dosage:
    doses: tuple[Dose, ...]
    frequency: int | None
    frequency_max: int | None
    period: Decimal | None
    period_unit: str | None


@dataclass(frozen=True, slots=True)
class OrderJson:
    """The elements of a MedicationRequest that benzosafe reads, typed."""

    id: str | None
    status: str
    medication: Concept | None
    reference: str | None
    reference_display: str | None
    contained: tuple[dict[str, Any], ...]
    authored_on: str | None
    dosages: tuple[Dosage, ...]
    validity_start: str | None
    validity_end: str | None
    repeats: int | None
    supply: Dose | None
    reasons: tuple[Concept, ...]
    reason_references: tuple[str, ...]  # reasonReference ("Condition/123", "#c1")


def _absent(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


class _At:
    """Typed access to one JSON object, with the path for error messages."""

    __slots__ = ("data", "path")

    def __init__(self, data: dict[str, Any], path: str) -> None:
        self.data = data
        self.path = path

    def _fail(self, key: str, message: str) -> InvalidInput:
        return InvalidInput(f"{self.path}.{key}", message)

    def obj(self, key: str) -> _At | None:
        value = self.data.get(key)
        if _absent(value):
            return None
        if not isinstance(value, dict):
            raise self._fail(key, "must be a JSON object")
        return _At(value, f"{self.path}.{key}")

    def objs(self, key: str) -> list[_At]:
        value = self.data.get(key)
        if _absent(value):
            return []
        if not isinstance(value, list):
            raise self._fail(key, "must be a list")
        out = []
        for i, item in enumerate(value):
            if _absent(item):
                continue
            if not isinstance(item, dict):
                raise self._fail(f"{key}.{i}", "must be a JSON object")
            out.append(_At(item, f"{self.path}.{key}.{i}"))
        return out

    def text(
        self, key: str, pattern: re.Pattern[str] | None = None, kind: str = "text"
    ) -> str | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value)):
            raise self._fail(key, f"must be a FHIR {kind}")
        return value

    def decimal(self, key: str) -> Decimal | None:
        value = self.data.get(key)
        if _absent(value):
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))
        ):
            raise self._fail(key, "must be a number (FHIR decimal)")
        return Decimal(str(value))

    def integer(self, key: str, least: int) -> int | None:
        value = self.data.get(key)
        if _absent(value):
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise self._fail(key, f"must be a whole number of at least {least}")
        return value


def _concept(at: _At | None) -> Concept | None:
    if at is None:
        return None
    coding = tuple(
        Coding(c.text("system", kind="uri"), c.text("code", _CODE, "code"), c.text("display"))
        for c in at.objs("coding")
    )
    return Concept(coding, at.text("text"))


def _quantity(at: _At | None) -> Dose | None:
    if at is None:
        return None
    at.text("system", kind="uri")
    return Dose(at.decimal("value"), at.text("unit"), at.text("code", _CODE, "code"))


def _dosage(at: _At) -> Dosage:
    doses = []
    for rate in at.objs("doseAndRate"):
        dose = _quantity(rate.obj("doseQuantity"))
        if dose is not None:
            doses.append(dose)
    timing = at.obj("timing")
    repeat = timing.obj("repeat") if timing is not None else None
    if repeat is None:
        return Dosage(tuple(doses), None, None, None, None)
    return Dosage(
        tuple(doses),
        repeat.integer("frequency", 1),
        repeat.integer("frequencyMax", 1),
        repeat.decimal("period"),
        repeat.text("periodUnit", _CODE, "code"),
    )


def read_medication_request(resource: dict[str, Any], where: str) -> OrderJson:
    """The elements benzosafe reads from an R4 MedicationRequest (STU3 shapes already moved
    to R4 by the caller), or InvalidInput naming the first element that is wrong."""
    at = _At(resource, where)
    status = at.text("status", _CODE, "code")
    if status is None:
        raise InvalidInput(f"{where}.status", "is required")
    if at.text("intent", _CODE, "code") is None:
        raise InvalidInput(f"{where}.intent", "is required")
    subject = at.obj("subject")
    if subject is None:
        raise InvalidInput(f"{where}.subject", "is required")
    subject.text("reference")
    ref = at.obj("medicationReference")
    contained = tuple(c.data for c in at.objs("contained"))
    for i, item in enumerate(contained):
        if not isinstance(item.get("resourceType"), str):
            raise InvalidInput(f"{where}.contained.{i}", "is not a FHIR resource")
    dispense = at.obj("dispenseRequest")
    validity = dispense.obj("validityPeriod") if dispense is not None else None
    return OrderJson(
        id=at.text("id", _ID, "id"),
        status=status,
        medication=_concept(at.obj("medicationCodeableConcept")),
        reference=ref.text("reference") if ref is not None else None,
        reference_display=ref.text("display") if ref is not None else None,
        contained=contained,
        authored_on=at.text("authoredOn", _DATE_TIME, "dateTime"),
        dosages=tuple(_dosage(d) for d in at.objs("dosageInstruction")),
        validity_start=validity.text("start", _DATE_TIME, "dateTime") if validity else None,
        validity_end=validity.text("end", _DATE_TIME, "dateTime") if validity else None,
        repeats=dispense.integer("numberOfRepeatsAllowed", 0) if dispense else None,
        supply=_quantity(dispense.obj("expectedSupplyDuration")) if dispense else None,
        reasons=tuple(c for c in (_concept(r) for r in at.objs("reasonCode")) if c),
        reason_references=tuple(
            ref for ref in (r.text("reference") for r in at.objs("reasonReference")) if ref
        ),
    )
