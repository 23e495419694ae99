"""MedicationRequest resources as medication facts, resolved by the one resolver.

A MedicationRequest is normalised from STU3 where needed, validated with the R4B model of
``fhir.resources``, and read into :class:`MedicationFacts`: what it is (its NDC or RxNorm
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
from typing import Any

from pydantic import ValidationError

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
from benzosafe.errors import InvalidInput
from benzosafe.fhir.request import strip_empty
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


# The elements benzosafe reads; the rest (extensions, narrative, identifiers, ...) is not
# validated, which halves the cost of a call.
# (``subject`` and ``intent`` are required by the R4 model.)
_READ = frozenset(
    {"resourceType", "id", "status", "intent", "medicationCodeableConcept", "subject"}
    | {"medicationReference", "authoredOn", "dosageInstruction", "dispenseRequest"}
    | {"reasonCode", "reasonReference", "contained"}
)


def stu3_to_r4(resource: Mapping[str, Any]) -> dict[str, Any]:
    """An R4 MedicationRequest (the elements benzosafe reads) from one that may be STU3."""
    data: dict[str, Any] = strip_empty({k: v for k, v in resource.items() if k in _READ})
    dosages = []
    raw_dosages = data.get("dosageInstruction")
    if not isinstance(raw_dosages, list):
        return data  # not R4 or STU3: the model's validation says what is wrong
    for dosage in raw_dosages:
        if not isinstance(dosage, dict):
            dosages.append(dosage)
            continue
        dosage = dict(dosage)
        moved = {k: dosage.pop(k) for k in ("doseQuantity", "doseRange") if k in dosage}
        moved.update({k: dosage.pop(k) for k in ("rateQuantity", "rateRatio") if k in dosage})
        if moved and isinstance(dosage.get("doseAndRate", []), list):
            dosage["doseAndRate"] = [*dosage.get("doseAndRate", []), moved]
        dosages.append(dosage)
    if dosages:
        data["dosageInstruction"] = dosages
    return data


def parse_medication_request(resource: Mapping[str, Any], where: str) -> Any:
    """The R4B MedicationRequest model of a (possibly STU3) resource, or InvalidInput."""
    from fhir.resources.R4B.medicationrequest import MedicationRequest

    try:
        return MedicationRequest.model_validate(stu3_to_r4(resource))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        raise InvalidInput(f"{where}.{loc}" if loc else where, first.get("msg", "invalid")) from exc


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


def _frequency(repeat: Any) -> Frequency | None:
    if repeat is None or repeat.period is None or repeat.periodUnit not in _PERIOD_HOURS:
        return None
    times = Fraction(repeat.frequencyMax or repeat.frequency or 1)
    hours = Fraction(str(repeat.period)) * _PERIOD_HOURS[repeat.periodUnit]
    if hours <= 0:
        return None
    per_day = times * 24 / hours
    if per_day.denominator != 1 or per_day < 1:
        return None  # not a whole number of administrations a day: no daily dose is computed
    n = int(per_day)
    return Frequency(f"{n}/d", n, "once a day" if n == 1 else f"{n} times a day")


def _dose(dosage: Any) -> tuple[Decimal | None, str | None]:
    """The first dose quantity: its value and kind ("mg", "unit", "mL"), or None."""
    for dr in dosage.doseAndRate or []:
        qty = dr.doseQuantity
        if qty is None or qty.value is None:
            continue
        unit = (qty.code or qty.unit or "").strip().lower()
        value = Decimal(str(qty.value))
        if unit == "mg":
            return value, "mg"
        if unit in ("ug", "mcg", "µg"):
            return value / 1000, "mg"
        if unit in _UNIT_FORMS:
            return value, "unit"
        if unit in _ML:
            return value, "mL"
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


def medication_facts(
    kb: KnowledgeBase,
    resource: Mapping[str, Any],
    where: str,
    medications: Mapping[str, Mapping[str, Any]] | None = None,
) -> MedicationFacts:
    """Read one MedicationRequest; ``medications`` resolves medicationReference by id."""
    model = parse_medication_request(resource, where)
    codings: list[tuple[str | None, str, str]] = []
    texts: list[str] = []

    def concept(cc: Any, field: str) -> None:
        if cc is None:
            return
        for i, coding in enumerate(cc.coding or []):
            if coding.code:
                codings.append((coding.system, str(coding.code), f"{field}.coding[{i}].code"))
            if coding.display:
                texts.append(coding.display)
        if cc.text:
            texts.append(cc.text)

    concept(model.medicationCodeableConcept, f"{where}.medicationCodeableConcept")
    ref = model.medicationReference
    if ref is not None:
        if ref.display:
            texts.append(ref.display)
        target = (ref.reference or "").split("/")[-1]
        med = (medications or {}).get(target)
        for contained in model.contained or []:
            if getattr(contained, "id", None) == target.lstrip("#"):
                med = contained.model_dump(mode="json")
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
    if model.dosageInstruction:
        first = model.dosageInstruction[0]
        amount, kind = _dose(first)
        frequency = _frequency(first.timing.repeat if first.timing else None)
    dose = Dose(amount=amount, amount_unit=kind, frequency=frequency)  # type: ignore[arg-type]
    dispense = model.dispenseRequest
    start = _date(model.authoredOn)
    end = None
    refills = 0
    supply = None
    if dispense is not None:
        if dispense.validityPeriod is not None:
            start = _date(dispense.validityPeriod.start) or start
            end = _date(dispense.validityPeriod.end)
        refills = int(dispense.numberOfRepeatsAllowed or 0)
        esd = dispense.expectedSupplyDuration
        if esd is not None and esd.value is not None and (esd.code or esd.unit or "d")[:1] == "d":
            try:
                supply = int(Decimal(str(esd.value)))
            except (InvalidOperation, ValueError):
                supply = None
    reasons = [
        text
        for cc in model.reasonCode or []
        for text in [cc.text, *(c.display for c in cc.coding or [])]
        if text
    ]
    reason_codes = [
        (str(c.system or ""), str(c.code))
        for cc in model.reasonCode or []
        for c in cc.coding or []
        if c.code
    ]
    references = [r.reference for r in model.reasonReference or [] if r.reference]
    mme = estimate_mme(resolution, dose)
    return MedicationFacts(
        resource_id=model.id,
        status=str(model.status),
        text=texts[0] if texts else (codings[0][1] if codings else "(medication not named)"),
        resolution=resolution,
        classified=deciding,
        ingredients=ingredients,
        dose_mg=_dose_mg(resolution, deciding, amount, kind),
        dose_from_mg=kind == "mg",
        dose=dose,
        frequency=frequency,
        start=start,
        end=end,
        refills=refills,
        days_supply=supply if supply and 1 <= supply <= 365 else None,
        reasons=tuple(reasons),
        reason_codes=tuple(reason_codes),
        reason_references=tuple(references),
        mme=mme,
        resource=dict(resource),
    )
