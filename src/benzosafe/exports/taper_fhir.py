"""A taper plan as FHIR R4: a Bundle with a CarePlan and one MedicationRequest per step.

:func:`plan_to_fhir` writes the plan as a ``collection`` Bundle: the CarePlan (the strategy,
the period from the first day to the first day on no medicine, the knowledge version, the
bounds the plan keeps with their sources, any override) and, for each step that takes a drug,
one MedicationRequest (two on a step that takes two drugs, while switching) with the drug
coded in RxNorm where the product index knows the form and strength taken (else the
ingredient), a dosage instruction per time of day (dose in mg, the day's timing bounded by the
step's dates), and the step's dates as the dispense request's validity period with the amount
to dispense. The CarePlan lists every MedicationRequest as an activity, and the stop step as
an activity of its own. Identifiers are ``urn:uuid`` names derived from the plan, so the same
plan gives the same Bundle. The shape is checked against the ``fhir.resources`` R4B models by
the tests.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any, Literal

from benzosafe.clinical.taper import TaperPlan, TaperStep
from benzosafe.clinical.taper.model import Administration, DoseForm
from benzosafe.exports.taper_data import number, plan_to_dict
from benzosafe.knowledge.bundle import Knowledge, knowledge_text

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
MEDIA_TYPE = "application/fhir+json"
# EventTiming codes (http://hl7.org/fhir/event-timing) of the plan's times of day.
WHEN = {"morning": "MORN", "midday": "NOON", "afternoon": "AFT", "evening": "EVE", "night": "NIGHT"}
# The RxNorm dose form of each form a plan is made of, as the product index names it.
RXNORM_FORM = {
    "tablet": "Oral Tablet",
    "odt": "Disintegrating Oral Tablet",
    "liquid": "Oral Solution",
}
_NAMESPACE = uuid.UUID("8d3c1f52-4e0a-5b6e-9a51-0b7a2f5c6d10")

Status = Literal["draft", "active"]


def _urn(key: str, part: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{key}/{part}')}"


def _mg(value: Decimal) -> dict[str, Any]:
    return {"value": number(value), "unit": "mg", "system": UCUM, "code": "mg"}


def _period(step: TaperStep) -> dict[str, str]:
    return {"start": step.start.isoformat(), "end": step.end.isoformat()}


def product_coding(kb: Knowledge, form: DoseForm) -> dict[str, str] | None:
    """The RxNorm coding of a generic product of this drug, form and strength, if indexed."""
    index = kb.products
    unit = "mg/mL" if form.form == "liquid" else "mg"
    found = []
    for n in index.by_drug.get(frozenset({form.drug}), ()):
        product = index.product(n)
        if (
            product.rxnorm
            and product.brand is None
            and product.form == RXNORM_FORM[form.form]
            and product.known_strengths == ((form.strength_mg, unit),)
        ):
            found.append(product)
    if len(found) != 1:
        return None
    return {"system": RXNORM, "code": found[0].rxnorm[0], "display": found[0].name}


def medication(kb: Knowledge, drug: str, forms: list[DoseForm]) -> dict[str, Any]:
    """The drug of a MedicationRequest: the product when the step takes one form of it and the
    index knows it, else the ingredient's RxNorm code; the text names every form taken."""
    coding: list[dict[str, str]] = []
    if len(forms) == 1:
        found = product_coding(kb, forms[0])
        if found is not None:
            coding.append(found)
    entry = kb.benzodiazepines.get(drug)
    if not coding and entry is not None and entry.rxnorm_ingredient:
        coding.append({"system": RXNORM, "code": entry.rxnorm_ingredient, "display": drug})
    text = f"{drug} " + " + ".join(f.label for f in forms) if forms else drug
    return {"coding": coding, "text": text} if coding else {"text": text}


def _dosage(sequence: int, a: Administration, step: TaperStep) -> dict[str, Any]:
    return {
        "sequence": sequence,
        "text": f"{a.time}: {a.take_text} ({a.drug} {number(a.dose_mg)} mg)",
        "timing": {
            "repeat": {
                "boundsPeriod": _period(step),
                "frequency": 1,
                "period": 1,
                "periodUnit": "d",
                "when": [WHEN[a.time]],
            }
        },
        "doseAndRate": [{"doseQuantity": _mg(a.dose_mg)}],
    }


def _quantity(step: TaperStep, drug: str) -> dict[str, Any] | None:
    dispensing = [d for d in step.dispensing if d.form.drug == drug]
    if len(dispensing) != 1:
        return None  # several strengths: the text of the dosage says what, not one quantity
    d = dispensing[0]
    if d.form.form == "liquid":
        return {"value": number(d.volume_ml), "unit": "mL", "system": UCUM, "code": "mL"}
    return {"value": d.tablets, "unit": "tablet"}


def _request(
    kb: Knowledge,
    plan: TaperPlan,
    step: TaperStep,
    drug: str,
    ids: tuple[str, str],
    subject: dict[str, Any],
    status: Status,
) -> dict[str, Any]:
    own, care_plan = ids
    taken = [a for a in step.administrations if a.drug == drug]
    forms = list(dict.fromkeys(t.form for a in taken for t in a.takes))
    dispense: dict[str, Any] = {
        "validityPeriod": _period(step),
        "expectedSupplyDuration": {"value": step.days, "unit": "days", "system": UCUM, "code": "d"},
    }
    quantity = _quantity(step, drug)
    if quantity is not None:
        dispense["quantity"] = quantity
    daily = number(step.daily_dose_by_drug_mg[drug])
    resource: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": own.removeprefix("urn:uuid:"),
        "status": status,
        "intent": "plan",
        "medicationCodeableConcept": medication(kb, drug, forms),
        "subject": subject,
        "basedOn": [{"reference": care_plan}],
        "groupIdentifier": {"value": f"taper-step-{step.index}"},
        "note": [
            {"text": f"Step {step.index} ({step.kind}): {drug} {daily} mg/day, {step.days} days"},
            *({"text": note} for note in step.notes),
        ],
        "dosageInstruction": [_dosage(i, a, step) for i, a in enumerate(taken, start=1)],
        "dispenseRequest": dispense,
    }
    return resource


def plan_to_fhir(
    plan: TaperPlan,
    kb: Knowledge,
    subject: dict[str, Any] | None = None,
    status: Status = "draft",
) -> dict[str, Any]:
    """The plan as a FHIR R4 ``collection`` Bundle (a CarePlan, then its MedicationRequests).

    ``subject`` is the FHIR Reference of the patient (a display only when none is known);
    ``status`` is ``draft`` for a plan not yet kept, ``active`` for a clinic's saved plan.
    """
    patient = subject or {"display": "the patient (not identified in this export)"}
    key = json.dumps(plan_to_dict(plan), sort_keys=True)
    care_plan = _urn(key, "careplan")
    requests: list[dict[str, Any]] = []
    activities: list[dict[str, Any]] = []
    for step in plan.steps:
        if not step.administrations:
            activities.append(
                {
                    "detail": {
                        "status": "not-started",
                        "description": (
                            f"Step {step.index} ({step.kind}): no {plan.via or plan.drug} "
                            f"from {step.start.isoformat()}"
                        ),
                        "scheduledPeriod": {"start": step.start.isoformat()},
                    }
                }
            )
            continue
        for drug in step.drugs:
            own = _urn(key, f"step-{step.index}-{drug}")
            requests.append(_request(kb, plan, step, drug, (own, care_plan), patient, status))
            activities.append({"reference": {"reference": own}})
    notes = [
        {"text": f"{knowledge_text(plan.knowledge_version, plan.protocol)} (benzosafe)."},
        *(
            {
                "text": f"{b.rule} version {b.version}: {b.text} Sources: "
                + "; ".join(f"[{s.ref}] {s.title}, {s.section}".rstrip(", ") for s in b.sources)
            }
            for b in plan.bounds
        ),
    ]
    if plan.override_reason:
        notes.append({"text": f"Above the taper bound by override: {plan.override_reason}"})
    notes += [
        {"text": f"{f.severity}: {f.summary} [{f.rule}]"}
        for f in plan.findings
        if f.severity != "info"
    ]
    drug = plan.drug if plan.via is None else f"{plan.drug} via {plan.via}"
    resource: dict[str, Any] = {
        "resourceType": "CarePlan",
        "id": care_plan.removeprefix("urn:uuid:"),
        "status": status,
        "intent": "plan",
        "title": f"Supervised taper of {drug}",
        "description": f"{plan.strategy.text}; version {plan.version} of the plan.",
        "subject": patient,
        "period": {"start": plan.start.isoformat(), "end": plan.steps[-1].start.isoformat()},
        "activity": activities,
        "note": notes,
    }
    made_by = plan.history[-1].by if plan.history else ""
    if made_by and made_by != "unspecified":
        resource["author"] = {"display": made_by}
    entries = [{"fullUrl": care_plan, "resource": resource}]
    entries += [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in requests]
    return {
        "resourceType": "Bundle",
        "id": _urn(key, "bundle").removeprefix("urn:uuid:"),
        "type": "collection",
        "entry": entries,
    }


def plan_to_fhir_json(
    plan: TaperPlan,
    kb: Knowledge,
    subject: dict[str, Any] | None = None,
    status: Status = "draft",
) -> bytes:
    """:func:`plan_to_fhir` as the bytes of a ``.fhir.json`` file."""
    bundle = plan_to_fhir(plan, kb, subject, status)
    return json.dumps(bundle, indent=2, ensure_ascii=False).encode("utf-8")
