"""The CDS Hooks evaluation: FHIR facts in, the prescription check, CDS Hooks cards out.

For a draft benzodiazepine order the whole prescription check runs (the patient's active
medications as co-medications, a current order of the same drug as the prior dose). For a
draft opioid or other CNS depressant, each current benzodiazepine is checked against it and
only that interaction is shown. On ``patient-view`` each current benzodiazepine is reviewed
(opioid or CNS depressant with it, a second benzodiazepine, long-term use, older adult) with a
link to start a taper plan. Cards carry the summary, indicator, source (label and URL of the
cited guideline), a markdown detail with the rule id and version, override reasons, and, for a
dose above the labelled maximum given in mg, an ``update`` suggestion to the maximum.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from urllib.parse import urlencode

from benzosafe.clinical.check import (
    CheckReport,
    Order,
    Patient,
    check_prescription,
    coded_condition,
    coded_indication,
    resolve_condition,
)
from benzosafe.clinical.findings import SEVERITY_RANK, Finding, NotEvaluated
from benzosafe.clinical.medications import BENZODIAZEPINE
from benzosafe.errors import InvalidInput
from benzosafe.fhir.medications import MedicationFacts, medication_facts
from benzosafe.fhir.request import HookRequest, all_resources
from benzosafe.knowledge.bundle import knowledge_text, protocol_of
from benzosafe.knowledge.cds import CdsKnowledge, CdsService
from benzosafe.knowledge.models import KnowledgeBase
from benzosafe.units import MAX_AGE_YEARS, format_mg

CARD_NAMESPACE = uuid.UUID("5b0c6f5e-4d0e-4a53-9a53-6c1d7c0e2b11")
OVERRIDE_SYSTEM = "urn:benzosafe:cds-hooks:override-reason"
TOPIC_SYSTEM = "urn:benzosafe:finding-code"


@dataclass(frozen=True, slots=True)
class Card:
    """A card and the key that says "this finding for this draft" (for de-duplication)."""

    key: str
    body: dict[str, Any]


@dataclass(slots=True)
class PatientFacts:
    age_years: Decimal | None
    conditions: tuple[str, ...]
    medications: list[MedicationFacts]
    notes: list[str] = field(default_factory=list)
    # Every Condition of the request by id (active or not): what a reasonReference names.
    condition_resources: dict[str, dict[str, Any]] = field(default_factory=dict)


def _age(birth: Any, today: date) -> Decimal | None:
    try:
        born = date.fromisoformat(str(birth)[:10])
    except ValueError:
        return None
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return Decimal(years) if 0 <= years <= MAX_AGE_YEARS else None


def _codings(concept: Any) -> list[tuple[str, str]]:
    """The (system, code) pairs of a CodeableConcept given as JSON."""
    coding = concept.get("coding") if isinstance(concept, dict) else None
    return [
        (str(c.get("system") or ""), str(c["code"]))
        for c in (coding if isinstance(coding, list) else [])
        if isinstance(c, dict) and c.get("code")
    ]


def _conditions_of(kb: KnowledgeBase, concept: Any) -> list[str]:
    """The conditions a Condition's code means: by its SNOMED CT or ICD-10-CM codings, else
    by its text or displays."""
    found = [c for s, code in _codings(concept) if (c := coded_condition(kb, s, code))]
    if found:
        return list(dict.fromkeys(found))
    for name in _texts(concept):
        try:
            return [resolve_condition(kb, name, "condition")]
        except InvalidInput:
            continue
    return []


def _texts(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    coding = concept.get("coding")
    out = [
        str(c["display"])
        for c in (coding if isinstance(coding, list) else [])
        if isinstance(c, dict) and c.get("display")
    ]
    if concept.get("text"):
        out.append(str(concept["text"]))
    return out


def _condition_active(resource: Mapping[str, Any]) -> bool:
    status = resource.get("clinicalStatus")
    if status is None:
        return True
    if isinstance(status, str):  # STU3
        return status in ("active", "recurrence", "relapse")
    coding = status.get("coding") if isinstance(status, dict) else None
    if not isinstance(coding, list):
        return True  # no readable status: taken as active, so nothing is hidden
    codes = [c.get("code") for c in coding if isinstance(c, dict)]
    return not codes or any(c in ("active", "recurrence", "relapse") for c in codes)


def patient_facts(kb: KnowledgeBase, request: HookRequest, today: date) -> PatientFacts:
    """The patient's age, recognised conditions and medications, from every prefetched resource."""
    found = all_resources(request)
    patients = [r for r in found if r.get("resourceType") == "Patient"]
    patient = next((p for p in patients if p.get("id") == request.patient_id), None)
    if patient is None and len(patients) == 1:
        patient = patients[0]
    age = _age(patient.get("birthDate"), today) if patient else None
    conditions: list[str] = []
    by_id: dict[str, dict[str, Any]] = {}
    for res in found:
        if res.get("resourceType") != "Condition":
            continue
        if isinstance(res.get("id"), str):
            by_id[res["id"]] = res
        if _condition_active(res):
            conditions += [c for c in _conditions_of(kb, res.get("code")) if c not in conditions]
    meds_by_id = {
        str(r["id"]): r for r in found if r.get("resourceType") == "Medication" and r.get("id")
    }
    draft_ids = {d["id"] for d in request.draft_orders if isinstance(d.get("id"), str)}
    medications = []
    unreadable: list[str] = []
    for i, res in enumerate(r for r in found if r.get("resourceType") == "MedicationRequest"):
        if isinstance(res.get("id"), str) and res["id"] in draft_ids:
            continue
        try:
            facts = medication_facts(kb, res, f"prefetch.MedicationRequest[{i}]", meds_by_id)
        except InvalidInput as exc:
            unreadable.append(
                f"A current MedicationRequest ({res.get('id') or 'no id'}) could not be read "
                f"({exc}); its interactions were not checked."
            )
            continue
        if facts.is_active(today):
            medications.append(facts)
    facts_out = PatientFacts(age, tuple(conditions), medications, unreadable, by_id)
    if age is None:
        facts_out.notes.append(
            "The patient's birth date is not on record: age-dependent rules (dose limits, "
            "older adult, children) were not checked."
        )
    return facts_out


# The frequency codes a taper split is written with (clinical/taper/parsing.py parse_split),
# by administrations a day; an order's "2/d" (FHIR timing) is split as "bid".
_TAPER_SPLITS = {1: "qd", 2: "bid", 3: "tid", 4: "qid"}


def _taper_proposal(kb: KnowledgeBase, facts: MedicationFacts) -> dict[str, str] | None:
    """The clinic app's taper fields for this order (drug, daily dose, split), when it is a
    benzodiazepine with a dose in mg and a frequency a taper can be split by; else None."""
    drug = _drug_id(facts)
    frequency, dose = facts.frequency, facts.dose_mg
    if drug not in kb.benzodiazepines or dose is None or frequency is None:
        return None
    code = "qhs" if frequency.code == "qhs" else _TAPER_SPLITS.get(frequency.times_per_day)
    if code is None:
        return None
    daily = dose * frequency.times_per_day
    return {"drug": drug, "dose": f"{format_mg(daily)}/day", "split": f"{format_mg(dose)} {code}"}


def _drug_id(facts: MedicationFacts) -> str:
    return facts.classified.ingredient_id if facts.classified else facts.text


def _indication_of_text(kb: KnowledgeBase, text: str) -> str | None:
    key = "-".join(text.strip().lower().replace("_", " ").split())
    for ind in kb.indications.values():
        if key == ind.id or text.strip().lower() == ind.name.lower():
            return ind.id
    return None


def _indication_of(
    kb: KnowledgeBase, codings: list[tuple[str, str]], texts: list[str]
) -> str | None:
    for system, code in codings:
        found = coded_indication(kb, system, code)
        if found:
            return found
    return next((i for t in texts if (i := _indication_of_text(kb, t))), None)


def _referenced(
    facts: MedicationFacts, patient: PatientFacts, reference: str
) -> dict[str, Any] | None:
    """The Condition a reasonReference names: contained in the order, or in the request."""
    if reference.startswith("#"):
        contained = facts.resource.get("contained")
        for res in contained if isinstance(contained, list) else []:
            if isinstance(res, dict) and res.get("id") == reference[1:]:
                return res
        return None
    kind, _, ident = reference.rpartition("/")
    if kind.rsplit("/", 1)[-1] not in ("Condition", ""):
        return None
    return patient.condition_resources.get(ident)


def _indication(
    kb: KnowledgeBase, facts: MedicationFacts, patient: PatientFacts
) -> tuple[str | None, list[str]]:
    """The indication from reasonCode (codes, then texts), else from the Conditions that
    reasonReference names; with a note for each reference that could not be read."""
    found = _indication_of(kb, list(facts.reason_codes), list(facts.reasons))
    notes: list[str] = []
    for reference in facts.reason_references:
        if found:
            break
        condition = _referenced(facts, patient, reference)
        if condition is None:
            notes.append(
                f"{facts.text}: the reason {reference} was not in the request and could not "
                "be fetched; it was not read."
            )
            continue
        concept = condition.get("code")
        found = _indication_of(kb, _codings(concept), _texts(concept))
    return found, notes


def _planned_days(facts: MedicationFacts) -> int | None:
    if facts.days_supply is not None:
        return facts.days_supply * (facts.refills + 1)
    if facts.start and facts.end and facts.end > facts.start:
        return (facts.end - facts.start).days
    return None


def _order(
    kb: KnowledgeBase,
    facts: MedicationFacts,
    prior: MedicationFacts | None,
    patient: PatientFacts,
    today: date,
) -> tuple[Order, list[str]]:
    indication, notes = _indication(kb, facts, patient)
    if indication is None:
        notes.append(
            f"{facts.text}: no indication that benzosafe recognises (reasonCode or "
            "reasonReference), so indication-specific dose limits were not checked."
        )
    order = Order(
        drug=_drug_id(facts),
        dose_mg=facts.dose_mg,
        frequency=facts.frequency,
        indication=indication,
        start=facts.start or today,
        issued=facts.start or today,
        duration_days=_planned_days(facts),
        refills=min(facts.refills, 99),
        days_supply=facts.days_supply,
        prior_daily_mg=prior.daily_mg if prior else None,
        prior_start=prior.start if prior else None,
    )
    return order, notes


@dataclass(slots=True)
class _Evaluation:
    # (finding, the benzodiazepine order it is about, the draft it was raised for or None)
    findings: list[tuple[Finding, MedicationFacts, MedicationFacts | None]] = field(
        default_factory=list
    )
    not_evaluated: list[str] = field(default_factory=list)
    reports: list[CheckReport] = field(default_factory=list)


def _run(
    kb: KnowledgeBase,
    facts: MedicationFacts,
    others: list[MedicationFacts],
    patient: PatientFacts,
    codes: Sequence[str],
    today: date,
    out: _Evaluation,
    prior: MedicationFacts | None = None,
    interaction_only: bool = False,
    draft: MedicationFacts | None = None,
) -> None:
    order, notes = _order(kb, facts, prior, patient, today)
    also = tuple(m.co_medication(kb) for m in others)
    report = check_prescription(
        order, Patient(patient.age_years, None, patient.conditions, also), kb
    )
    out.reports.append(report)
    out.findings.extend((f, facts, draft) for f in report.findings if f.code in codes)
    if interaction_only:
        return
    out.not_evaluated.extend(notes)
    out.not_evaluated.extend(
        f"{facts.text}: {n.reason} ({n.rule})"
        for n in report.not_evaluated
        if n.code in codes and not _covered_by_notes(n, notes)
    )


def _covered_by_notes(item: NotEvaluated, notes: list[str]) -> bool:
    # The note on a missing indication already says why the dose limits were not checked.
    return item.rule == "KB-NO-DOSE-LIMIT" and bool(notes)


def evaluate(
    kb: KnowledgeBase,
    cds: CdsKnowledge,
    service: CdsService,
    request: HookRequest,
    today: date,
) -> tuple[_Evaluation, PatientFacts, list[MedicationFacts]]:
    """Run the checks a service's hook calls for; no I/O."""
    patient = patient_facts(kb, request, today)
    out = _Evaluation()
    out.not_evaluated.extend(patient.notes)
    codes = service.codes
    benzos = [
        m for m in patient.medications if m.classified and m.classified.class_id == BENZODIAZEPINE
    ]
    drafts = [
        medication_facts(kb, d, f"context.draftOrders[{i}]")
        for i, d in enumerate(request.draft_orders)
        if d.get("resourceType") == "MedicationRequest"
    ]
    if request.hook == "patient-view":
        for med in benzos:
            others = [m for m in patient.medications if m is not med]
            _run(kb, med, others, patient, codes, today, out, interaction_only=True)
        return out, patient, drafts
    for draft in _selected(drafts, request.selections):
        cls = draft.classified
        if cls is not None and cls.class_id == BENZODIAZEPINE:
            same = [m for m in benzos if m.classified == cls]
            prior = max(same, key=lambda m: m.start or date.min) if same else None
            others = [m for m in patient.medications if m is not prior]
            others += [d for d in drafts if d is not draft]
            _run(kb, draft, others, patient, codes, today, out, prior=prior, draft=draft)
            continue
        if cls is None and (not benzos or draft.identified):
            out.not_evaluated.append(
                f"{draft.text}: not recognised as a benzodiazepine, opioid or other CNS "
                "depressant (by NDC, RxNorm code or name); it was not checked."
            )
            continue
        # A draft opioid, other CNS depressant or unidentified medication against each
        # current benzodiazepine: only that interaction is shown.
        wanted = _interaction_codes(kb, cls.class_id if cls else None)
        for med in benzos:
            _run(kb, med, [draft], patient, [c for c in wanted if c in codes], today, out,
                 interaction_only=True, draft=draft)  # fmt: skip
    return out, patient, drafts


def _interaction_codes(kb: KnowledgeBase, class_id: str | None) -> list[str]:
    """The finding codes of a draft of this class (None: not identified) beside a current
    benzodiazepine."""
    if class_id is None:
        return ["unknown-co-medication"]
    cls = kb.depressant_classes.get(class_id)
    found = cls.finding if cls else "concurrent-cns-depressant"
    return [found, "opioid-use-disorder-treatment"] if found == "concurrent-opioid" else [found]


def _selected(drafts: list[MedicationFacts], selections: Sequence[str]) -> list[MedicationFacts]:
    """order-select: the drafts just selected (the others still count as co-medications).
    When no selection matches a draft id (some EHRs send stale ids), every draft is checked."""
    wanted = {s.removeprefix("MedicationRequest/") for s in selections}
    chosen = [d for d in drafts if d.resource_id in wanted]
    return chosen or drafts


def _markdown_sources(finding: Finding) -> str:
    parts = []
    for s in finding.sources:
        label = f"{s.title}" + (f", {s.section}" if s.section else "")
        parts.append(f"[{label}]({s.url})" if s.url else label)
    return "; ".join(parts)


def _dose_step(kb: KnowledgeBase, drug: str) -> Decimal | None:
    """The smallest dose the drug's marketed solid products make (half a scored tablet)."""
    mono = kb.monographs.get(drug)
    if mono is None:
        return None
    steps = [
        p.strength_mg / 2 if p.scored else p.strength_mg
        for p in mono.products
        if p.us_marketed and not p.per_ml
    ]
    return min(steps) if steps else None


def _suggestion(
    kb: KnowledgeBase, finding: Finding, facts: MedicationFacts
) -> dict[str, Any] | None:
    """An update of the draft to the most the labelled maximum allows, in doses the drug's
    products can make, when the order gave its dose in mg (else there is no clear action)."""
    if finding.code != "dose-above-maximum" or not facts.dose_from_mg or facts.frequency is None:
        return None
    limit = kb.rules[finding.rule].params.get("max_mg_per_day")
    step = _dose_step(kb, _drug_id(facts))
    if limit is None or step is None:
        return None
    per_day = Decimal(str(limit))
    times = facts.frequency.times_per_day
    per_dose = (per_day / times / step).to_integral_value(rounding=ROUND_FLOOR) * step
    resource = _with_dose(facts.resource, per_dose)
    if per_dose <= 0 or resource is None:
        return None
    text = (
        f"{format_mg(per_dose)} {facts.frequency.label} ({format_mg(per_dose * times)}/day; "
        f"labelled maximum {format_mg(per_day)}/day)"
    )
    return {
        "label": f"Change the dose to {text}",
        "uuid": str(uuid.uuid5(CARD_NAMESPACE, f"{facts.resource_id}:{finding.rule}:update")),
        "isRecommended": False,
        "actions": [
            {
                "type": "update",
                "description": f"Update the draft order to {text}",
                "resource": resource,
            }
        ],
    }


def _with_dose(resource: Mapping[str, Any], per_dose: Decimal) -> dict[str, Any] | None:
    import copy

    data = copy.deepcopy(dict(resource))
    dosages = data.get("dosageInstruction") or []
    if not dosages:
        return None
    dosage = dosages[0]
    quantity = {
        "value": float(per_dose),
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    if "doseQuantity" in dosage:  # STU3 shape: keep the sender's shape
        dosage["doseQuantity"] = quantity
    else:
        rates = dosage.get("doseAndRate") or [{}]
        rates[0] = {**rates[0], "doseQuantity": quantity}
        dosage["doseAndRate"] = rates
    return data


def card_key(patient_id: str, draft: MedicationFacts | None, rule: str, summary: str) -> str:
    """The identity of "this finding for this draft", for showing each finding once."""
    draft_id = (draft.resource_id or draft.text) if draft else "-"
    raw = f"{patient_id}\x1f{draft_id}\x1f{rule}\x1f{summary}"
    return hashlib.sha256(raw.encode()).hexdigest()


def render_cards(
    kb: KnowledgeBase,
    cds: CdsKnowledge,
    request: HookRequest,
    evaluation: _Evaluation,
    app_url: str | None,
) -> list[Card]:
    """The cards of an evaluation: one per distinct finding, then one for what was not checked."""
    reasons = [
        {"code": r.code, "system": OVERRIDE_SYSTEM, "display": r.display}
        for r in cds.override_reasons
    ]
    cards: list[Card] = []
    by_summary: dict[str, dict[str, Any]] = {}
    seen: set[tuple[str, str]] = set()
    footer = (
        f"\n\n{knowledge_text(kb.version, protocol_of(kb))}. "
        "benzosafe supports, never replaces, clinical judgement."
    )
    ordered = sorted(evaluation.findings, key=lambda f: -SEVERITY_RANK[f[0].severity])
    for finding, facts, draft in ordered:
        if (finding.rule, finding.summary) in seen:
            continue
        seen.add((finding.rule, finding.summary))
        rule_text = (
            f"**Rule** `{finding.rule}` version {finding.rule_version} "
            f"(finding `{finding.code}`, {finding.severity})  \n"
            f"**Sources:** {_markdown_sources(finding)}"
        )
        same = by_summary.get(finding.summary)
        if same is not None:
            # Another rule says the same thing: one card, every rule and source named.
            also = f"\n\nAlso: {finding.detail}  \n{rule_text}"
            same["detail"] = same["detail"].removesuffix(footer) + also + footer
            continue
        key = card_key(request.patient_id, draft, finding.rule, finding.summary)
        first = finding.sources[0] if finding.sources else None
        detail = f"{finding.detail}\n\n{rule_text}{footer}"
        source: dict[str, Any] = {
            "label": first.title if first else "benzosafe",
            "topic": {"system": TOPIC_SYSTEM, "code": finding.code, "display": finding.code},
        }
        if first and first.url:
            source["url"] = first.url
        body: dict[str, Any] = {
            "uuid": str(uuid.uuid5(CARD_NAMESPACE, f"{request.hook_instance}:{key}")),
            "summary": finding.summary,
            "indicator": finding.severity,
            "detail": detail,
            "source": source,
            "overrideReasons": reasons,
        }
        suggestion = _suggestion(kb, finding, facts) if request.hook != "patient-view" else None
        if suggestion:
            body["suggestions"] = [suggestion]
            body["selectionBehavior"] = "at-most-one"
        if request.hook == "patient-view" and app_url:
            query = {"drug": _drug_id(facts)}
            if facts.daily_mg is not None:
                query["daily_dose"] = f"{format_mg(facts.daily_mg)}/day"
            body["links"] = [
                {
                    "label": f"Start a taper plan for {_drug_id(facts)}",
                    "url": f"{app_url.rstrip('/')}/taper/new?{urlencode(query)}",
                    "type": "absolute",
                }
            ]
            proposal = _taper_proposal(kb, facts)
            if proposal is not None:
                body["links"].append(
                    {
                        "label": f"Taper plan proposal for {_drug_id(facts)} (FHIR R4 Bundle)",
                        "url": f"{app_url.rstrip('/')}/api/taper/preview.fhir.json?"
                        + urlencode(proposal),
                        "type": "absolute",
                    }
                )
        by_summary[finding.summary] = body
        cards.append(Card(key, body))
    if evaluation.not_evaluated:
        unique = list(dict.fromkeys(evaluation.not_evaluated))
        summary = (
            f"Not checked: {len(unique)} item(s) could not be evaluated (not the same as safe)"
        )
        key = card_key(request.patient_id, None, "not-evaluated", "\n".join(unique))
        cards.append(
            Card(
                key,
                {
                    "uuid": str(uuid.uuid5(CARD_NAMESPACE, f"{request.hook_instance}:{key}")),
                    "summary": summary,
                    "indicator": "info",
                    "detail": "\n".join(f"- {item}" for item in unique)
                    + f"\n\n{knowledge_text(kb.version, protocol_of(kb))}.",
                    "source": {"label": "benzosafe (what could not be checked)"},
                },
            )
        )
    return cards
