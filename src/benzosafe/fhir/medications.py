"""MedicationRequest resources as medication facts, resolved by the one resolver.

A MedicationRequest is normalised from STU3 where needed, the elements benzosafe reads are
type-checked (:mod:`.medication_json`; the rest is neither copied nor checked) and read into
:class:`MedicationFacts`: what it is (its NDC or RxNorm
codings, else the names in its display texts, through
:mod:`benzosafe.clinical.resolve`; a product code missing from the value sets is still found
by its display), the dose (in mg of the ordered drug when it can be known, and as written:
units, millilitres or mg), how often, when, its MME per day when it is an opioid, and its
reason (reasonCode codings and texts, reasonReference references). What cannot be known is
left None, never guessed; a malformed NDC is an error naming the coding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import lru_cache
from typing import Any

from benzosafe.clinical.medications import (
    Classified,
    CoMedication,
    classified,
    co_medication,
    estimate_mme,
    primary,
    shared_strength,
)
from benzosafe.clinical.mme import MmeEstimate
from benzosafe.clinical.resolve import (
    NDC_SYSTEM,
    RXNORM_SYSTEM,
    Resolution,
    Resolved,
    Unresolved,
    resolve,
    resolve_coding,
)
from benzosafe.clinical.written_dose import Dose
from benzosafe.fhir.medication_json import Concept, Dosage, read_medication_request
from benzosafe.fhir.medication_json import Dose as DoseJson
from benzosafe.knowledge.models import KnowledgeBase
from benzosafe.units import Frequency

RXNORM = RXNORM_SYSTEM
_UNIT_FORMS = {
    "tablet", "tab", "{tablet}", "{tab}", "capsule", "cap", "{capsule}", "{cap}", "patch",
    "{patch}", "each", "{each}", "1", "film", "{film}", "lozenge", "{lozenge}",
}  # fmt: skip
_ML = {"ml", "milliliter", "millilitre", "{ml}"}
_PERIOD_HOURS = {
    "h": Fraction(1),
    "d": Fraction(24),
    "wk": Fraction(24 * 7),
    "min": Fraction(1, 60),
}


@dataclass(frozen=True, slots=True)
class MedicationFacts:
    """What one MedicationRequest says, as far as it can be known."""

    resource_id: str | None
    status: str
    text: str
    resolution: Resolution
    classified: Classified | None  # the ingredient that decides what the order is
    ingredients: tuple[Classified, ...]
    dose_mg: Decimal | None  # of the deciding ingredient, per administration
    dose_from_mg: bool  # the order gave its dose in mg (so an update can say mg too)
    dose: Dose  # as the order gives it: units, mL or mg, and the frequency
    frequency: Frequency | None
    start: date | None
    end: date | None
    refills: int
    days_supply: int | None
    reasons: tuple[str, ...]  # reasonCode texts and displays
    reason_codes: tuple[tuple[str, str], ...]  # reasonCode (system, code)
    reason_references: tuple[str, ...]  # reasonReference ("Condition/123", "#c1")
    mme: MmeEstimate
    resource: dict[str, Any]

    @property
    def daily_mg(self) -> Decimal | None:
        if self.dose_mg is None or self.frequency is None:
            return None
        return self.dose_mg * self.frequency.times_per_day

    @property
    def identified(self) -> bool:
        """Whether the order names one drug the resolver knows."""
        return isinstance(self.resolution, Resolved)

    def co_medication(self, kb: KnowledgeBase) -> CoMedication:
        return co_medication(kb, self.text, self.resolution, self.mme)

    def is_active(self, today: date) -> bool:
        if self.status not in ("active", "draft"):
            return False
        return self.end is None or self.end >= today


# The elements benzosafe reads; the rest (extensions, narrative, identifiers, ...) is neither
# copied nor checked. (``subject`` and ``intent`` are required in R4.)
_READ = frozenset(
    {"resourceType", "id", "status", "intent", "medicationCodeableConcept", "subject"}
    | {"medicationReference", "authoredOn", "dosageInstruction", "dispenseRequest"}
    | {"reasonCode", "reasonReference", "contained"}
)


_STU3_DOSE = ("doseQuantity", "doseRange", "rateQuantity", "rateRatio")


def stu3_to_r4(resource: Mapping[str, Any]) -> dict[str, Any]:
    """An R4 MedicationRequest (the elements benzosafe reads) from one that may be STU3:
    ``doseQuantity`` and the like directly on a dosage move into ``doseAndRate``."""
    data = {k: v for k, v in resource.items() if k in _READ}
    raw_dosages = data.get("dosageInstruction")
    if not isinstance(raw_dosages, list):
        return data  # not R4 or STU3: the reader says what is wrong
    dosages = []
    for dosage in raw_dosages:
        if not isinstance(dosage, dict):
            dosages.append(dosage)
            continue
        dosage = dict(dosage)
        moved = {k: dosage.pop(k) for k in _STU3_DOSE if k in dosage}
        present = dosage.get("doseAndRate") or []
        if any(v not in (None, "", [], {}) for v in moved.values()) and isinstance(present, list):
            dosage["doseAndRate"] = [*present, moved]
        dosages.append(dosage)
    data["dosageInstruction"] = dosages
    return data


def _system(system: str | None, code: str) -> str | None:
    """The resolver's system of a coding: RxNorm (also a bare digit code, as older senders
    write them), NDC, or None for a system the index does not hold."""
    low = (system or "").lower()
    if "rxnorm" in low or (not low and code.isdigit()):
        return RXNORM_SYSTEM
    if low.rstrip("/").endswith("/ndc") or low == "ndc":
        return NDC_SYSTEM
    return None


def resolve_medication(
    kb: KnowledgeBase, codings: list[tuple[str | None, str, str]], texts: list[str], where: str
) -> Resolution:
    """One drug from codings ``(system, code, field)`` first, then the texts: the first that
    resolves to one drug wins; else the ambiguity, else the first reason."""
    index = kb.products
    others: list[Resolution] = []
    for system, code, field in codings:
        known = _system(system, code)
        if known is None:
            continue
        found = resolve_coding(index, known, code.strip(), field)
        if isinstance(found, Resolved):
            return found
        others.append(found)
    for text in texts:
        if not text.strip():
            continue
        found = resolve(index, text, where)
        if isinstance(found, Resolved):
            return found
        others.append(found)
    ambiguous = [o for o in others if not isinstance(o, Unresolved)]
    if ambiguous or others:
        return (ambiguous or others)[0]
    return Unresolved("(medication not named)", "the order names no medication")


def _date(value: Any) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _frequency(dosage: Dosage) -> Frequency | None:
    if dosage.period is None or dosage.period_unit not in _PERIOD_HOURS:
        return None
    return _per_day(
        dosage.frequency_max or dosage.frequency or 1, dosage.period, dosage.period_unit
    )


@lru_cache(maxsize=1024)
def _per_day(times_per_period: int, period: Decimal, unit: str) -> Frequency | None:
    """How many times a day; a handful of timings recur in every call, so it is remembered."""
    times = Fraction(times_per_period)
    hours = Fraction(period) * _PERIOD_HOURS[unit]
    if hours <= 0:
        return None
    per_day = times * 24 / hours
    if per_day.denominator != 1 or per_day < 1:
        return None  # not a whole number of administrations a day: no daily dose is computed
    n = int(per_day)
    return Frequency(f"{n}/d", n, "once a day" if n == 1 else f"{n} times a day")


def _dose(dosage: Dosage) -> tuple[Decimal | None, str | None]:
    """The first dose quantity: its value and kind ("mg", "unit", "mL"), or None."""
    for qty in dosage.doses:
        if qty.value is None:
            continue
        unit = (qty.code or qty.unit or "").strip().lower()
        if unit == "mg":
            return qty.value, "mg"
        if unit in ("ug", "mcg", "µg"):
            return qty.value / 1000, "mg"
        if unit in _UNIT_FORMS:
            return qty.value, "unit"
        if unit in _ML:
            return qty.value, "mL"
    return None, None


def _dose_mg(
    resolution: Resolution, deciding: Classified | None, amount: Decimal | None, kind: str | None
) -> Decimal | None:
    """The dose of the deciding ingredient in mg: given in mg, or units or mL times the one
    strength or concentration of the products the order fits."""
    if amount is None or kind is None:
        return None
    if kind == "mg":
        return amount
    if deciding is None:
        return None
    unit = "mg" if kind == "unit" else "mg/mL"
    per = shared_strength(resolution, deciding.ingredient_id, (unit,))
    return amount * per if per is not None else None


def _supply_days(supply: DoseJson | None) -> int | None:
    if supply is None or supply.value is None or (supply.code or supply.unit or "d")[:1] != "d":
        return None
    try:
        return int(supply.value)
    except (InvalidOperation, ValueError, OverflowError):
        return None


def _referenced(
    order: Any, medications: Mapping[str, Mapping[str, Any]] | None
) -> Mapping[str, Any] | None:
    """The Medication a medicationReference names: contained (#id) or among the resources."""
    target = (order.reference or "").split("/")[-1]
    med: Mapping[str, Any] | None = (medications or {}).get(target)
    for contained in order.contained:
        if contained.get("id") == target.lstrip("#"):
            med = contained
    return med


def medication_facts(
    kb: KnowledgeBase,
    resource: Mapping[str, Any],
    where: str,
    medications: Mapping[str, Mapping[str, Any]] | None = None,
) -> MedicationFacts:
    """Read one MedicationRequest; ``medications`` resolves medicationReference by id."""
    order = read_medication_request(stu3_to_r4(resource), where)
    codings: list[tuple[str | None, str, str]] = []
    texts: list[str] = []

    def concept(cc: Concept | None, field: str) -> None:
        if cc is None:
            return
        for i, coding in enumerate(cc.coding):
            if coding.code:
                codings.append((coding.system, coding.code, f"{field}.coding[{i}].code"))
            if coding.display:
                texts.append(coding.display)
        if cc.text:
            texts.append(cc.text)

    concept(order.medication, f"{where}.medicationCodeableConcept")
    if order.reference is not None or order.reference_display is not None:
        if order.reference_display:
            texts.append(order.reference_display)
        med = _referenced(order, medications)
        code = med.get("code") if isinstance(med, Mapping) else None
        if isinstance(code, Mapping):
            coding = code.get("coding")
            for i, c in enumerate(coding if isinstance(coding, list) else []):
                if isinstance(c, Mapping) and c.get("code"):
                    system = str(c["system"]) if c.get("system") else None
                    field = f"{where}.medicationReference.code.coding[{i}].code"
                    codings.append((system, str(c["code"]), field))
                if isinstance(c, Mapping) and c.get("display"):
                    texts.append(str(c["display"]))
            if code.get("text"):
                texts.append(str(code["text"]))
    resolution = resolve_medication(kb, codings, texts, f"{where}.medicationCodeableConcept")
    ingredients = classified(kb, resolution)
    deciding = primary(ingredients)
    amount: Decimal | None = None
    kind: str | None = None
    frequency = None
    if order.dosages:
        amount, kind = _dose(order.dosages[0])
        frequency = _frequency(order.dosages[0])
    dose = Dose(amount=amount, amount_unit=kind, frequency=frequency)  # type: ignore[arg-type]
    supply = _supply_days(order.supply)
    reasons = [
        text for cc in order.reasons for text in [cc.text, *(c.display for c in cc.coding)] if text
    ]
    reason_codes = [(c.system or "", c.code) for cc in order.reasons for c in cc.coding if c.code]
    return MedicationFacts(
        resource_id=order.id,
        status=order.status,
        text=texts[0] if texts else (codings[0][1] if codings else "(medication not named)"),
        resolution=resolution,
        classified=deciding,
        ingredients=ingredients,
        dose_mg=_dose_mg(resolution, deciding, amount, kind),
        dose_from_mg=kind == "mg",
        dose=dose,
        frequency=frequency,
        start=_date(order.validity_start) or _date(order.authored_on),
        end=_date(order.validity_end),
        refills=order.repeats or 0,
        days_supply=supply if supply and 1 <= supply <= 365 else None,
        reasons=tuple(reasons),
        reason_codes=tuple(reason_codes),
        reason_references=order.reason_references,
        mme=estimate_mme(resolution, dose),
        resource=dict(resource),
    )
