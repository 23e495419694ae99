"""MedicationRequest resources as classified medication facts (ingredient level).

A MedicationRequest is normalised from STU3 where needed, the elements benzosafe reads are
type-checked (:mod:`.medication_json`) and read into :class:`MedicationFacts`: what it is
(classified by RxNorm ingredient code, by product code, and by the ingredient names in its
display text, so a product code missing from a value set is still recognised), the dose in
mg when it can be known, how often, and when. What cannot be known is left None, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import cache, lru_cache
from typing import Any

from benzosafe.clinical.medications import (
    BENZODIAZEPINE,
    OPIOID,
    Classified,
    CoMedication,
    classify,
)
from benzosafe.fhir.medication_json import Concept, Dosage, Dose, read_medication_request
from benzosafe.knowledge.cds import CdsKnowledge
from benzosafe.knowledge.models import KnowledgeBase
from benzosafe.units import Frequency

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
_WORD = re.compile(r"[a-z]+")
_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*(MG|MCG)\b(?!\s*/)", re.IGNORECASE)
_RATE = re.compile(r"(\d+(?:\.\d+)?)\s*(MG|MCG)\s*/\s*(?:HR|H)\b", re.IGNORECASE)
_UNIT_FORMS = {
    "tablet",
    "tab",
    "{tablet}",
    "{tab}",
    "capsule",
    "cap",
    "{capsule}",
    "{cap}",
    "patch",
    "{patch}",
    "each",
    "{each}",
    "1",
}
_PERIOD_HOURS = {
    "h": Fraction(1),
    "d": Fraction(24),
    "wk": Fraction(24 * 7),
    "min": Fraction(1, 60),
}
ORDER_CLASSES_BY_PRIORITY = (BENZODIAZEPINE, OPIOID)


@dataclass(frozen=True, slots=True)
class MedicationFacts:
    """What one MedicationRequest says, as far as it can be known."""

    resource_id: str | None
    status: str
    text: str
    classified: Classified | None
    ingredients: tuple[Classified, ...]
    dose_mg: Decimal | None
    dose_from_mg: bool  # the order gave its dose in mg (so an update can say mg too)
    frequency: Frequency | None
    rate_mcg_per_h: Decimal | None
    start: date | None
    end: date | None
    refills: int
    days_supply: int | None
    reasons: tuple[str, ...]
    resource: dict[str, Any]

    @property
    def daily_mg(self) -> Decimal | None:
        if self.dose_mg is None or self.frequency is None:
            return None
        return self.dose_mg * self.frequency.times_per_day

    def co_medication(self) -> CoMedication:
        name = self.classified.ingredient_id if self.classified else self.text
        return CoMedication(
            text=self.text,
            name=name,
            classified=self.classified,
            dose_mg=self.dose_mg,
            rate_mcg_per_h=self.rate_mcg_per_h,
            frequency=self.frequency,
        )

    def is_active(self, today: date) -> bool:
        if self.status not in ("active", "draft"):
            return False
        return self.end is None or self.end >= today


# The elements benzosafe reads; the rest (extensions, narrative, identifiers, ...) is neither
# copied nor checked. (``subject`` and ``intent`` are required in R4.)
_READ = frozenset(
    {"resourceType", "id", "status", "intent", "medicationCodeableConcept", "subject"}
    | {"medicationReference", "authoredOn", "dosageInstruction", "dispenseRequest"}
    | {"reasonCode", "contained"}
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


@cache
def _extra_index(cds: CdsKnowledge) -> dict[str, Classified]:
    return {
        name.lower(): Classified(ing.knowledge_class, ing.id)
        for ing in cds.ingredients
        for name in ing.names
    }


# (kb, cds, codes, texts) -> ingredients: the same product names come in call after call,
# and classifying them is knowledge work that need not be done again (kept small).
_CLASSIFIED: dict[tuple[int, int, tuple[str, ...], tuple[str, ...]], tuple[Any, ...]] = {}
_CLASSIFIED_MAX = 4096


def classify_texts(
    kb: KnowledgeBase, cds: CdsKnowledge, codes: Iterable[str], texts: Iterable[str]
) -> tuple[Classified, ...]:
    """Every ingredient recognised in codes (RxNorm) and names inside display texts."""
    key = (id(kb), id(cds), tuple(codes), tuple(texts))
    hit = _CLASSIFIED.get(key)
    if hit is not None and hit[0] is kb and hit[1] is cds:
        found: tuple[Classified, ...] = hit[2]
        return found
    result = _classify_texts(kb, cds, key[2], key[3])
    if len(_CLASSIFIED) >= _CLASSIFIED_MAX:
        _CLASSIFIED.clear()
    _CLASSIFIED[key] = (kb, cds, result)  # the objects too: an id is only unique while alive
    return result


def _classify_texts(
    kb: KnowledgeBase, cds: CdsKnowledge, codes: tuple[str, ...], texts: tuple[str, ...]
) -> tuple[Classified, ...]:
    found: list[Classified] = []
    for code in codes:
        hit = classify(kb, code)
        if hit and hit not in found:
            found.append(hit)
    extra = _extra_index(cds)
    for text in texts:
        for word in _WORD.findall(text.lower()):
            hit = classify(kb, word) or extra.get(word)
            if hit and hit not in found:
                found.append(hit)
    return tuple(found)


def primary(ingredients: tuple[Classified, ...]) -> Classified | None:
    """The ingredient that decides what an order is: a benzodiazepine, then an opioid, ..."""
    for cls in ORDER_CLASSES_BY_PRIORITY:
        for ing in ingredients:
            if ing.class_id == cls:
                return ing
    return ingredients[0] if ingredients else None


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


def _dose(dosage: Dosage, strengths: list[Decimal]) -> tuple[Decimal | None, bool]:
    for qty in dosage.doses:
        if qty.value is None:
            continue
        unit = (qty.code or qty.unit or "").strip().lower()
        if unit == "mg":
            return qty.value, True
        if unit in ("ug", "mcg", "µg"):
            return qty.value / 1000, False
        if unit in _UNIT_FORMS and len(set(strengths)) == 1:
            return qty.value * strengths[0], False
    return None, False


def _supply_days(supply: Dose | None) -> int | None:
    if supply is None or supply.value is None or (supply.code or supply.unit or "d")[:1] != "d":
        return None
    try:
        return int(supply.value)
    except (InvalidOperation, ValueError, OverflowError):
        return None


def _named(concept: Concept | None, codes: list[str], texts: list[str]) -> None:
    if concept is None:
        return
    for coding in concept.coding:
        system = coding.system
        if coding.code and (system in (None, RXNORM) or "rxnorm" in (system or "")):
            codes.append(coding.code)
        if coding.display:
            texts.append(coding.display)
    if concept.text:
        texts.append(concept.text)


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
    cds: CdsKnowledge,
    resource: Mapping[str, Any],
    where: str,
    medications: Mapping[str, Mapping[str, Any]] | None = None,
) -> MedicationFacts:
    """Read one MedicationRequest; ``medications`` resolves medicationReference by id."""
    order = read_medication_request(stu3_to_r4(resource), where)
    codes: list[str] = []
    texts: list[str] = []
    _named(order.medication, codes, texts)
    if order.reference is not None or order.reference_display is not None:
        if order.reference_display:
            texts.append(order.reference_display)
        med = _referenced(order, medications)
        code = med.get("code") if isinstance(med, Mapping) else None
        if isinstance(code, Mapping):
            coding = code.get("coding")
            for c in coding if isinstance(coding, list) else []:
                if isinstance(c, Mapping) and c.get("code"):
                    codes.append(str(c["code"]))
                if isinstance(c, Mapping) and c.get("display"):
                    texts.append(str(c["display"]))
            if code.get("text"):
                texts.append(str(code["text"]))
    ingredients = classify_texts(kb, cds, codes, texts)
    strengths: list[Decimal] = []
    rate = None
    for text in texts:
        for match in _RATE.finditer(text):
            amount = Decimal(match.group(1))
            rate = amount * 1000 if match.group(2).lower() == "mg" else amount
        for match in _STRENGTH.finditer(_RATE.sub("", text)):
            amount = Decimal(match.group(1))
            strengths.append(amount if match.group(2).lower() == "mg" else amount / 1000)
    dose: Decimal | None = None
    from_mg = False
    frequency = None
    if order.dosages:
        dose, from_mg = _dose(order.dosages[0], strengths)
        frequency = _frequency(order.dosages[0])
    start = _date(order.validity_start) or _date(order.authored_on)
    supply = _supply_days(order.supply)
    reasons = [
        text for cc in order.reasons for text in [cc.text, *(c.display for c in cc.coding)] if text
    ]
    return MedicationFacts(
        resource_id=order.id,
        status=order.status,
        text=texts[0] if texts else "(medication not named)",
        classified=primary(ingredients),
        ingredients=ingredients,
        dose_mg=dose,
        dose_from_mg=from_mg,
        frequency=frequency,
        rate_mcg_per_h=rate,
        start=start,
        end=_date(order.validity_end),
        refills=order.repeats or 0,
        days_supply=supply if supply and 1 <= supply <= 365 else None,
        reasons=tuple(reasons),
        resource=dict(resource),
    )
