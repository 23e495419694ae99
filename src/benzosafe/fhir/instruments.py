"""The assessment instruments as FHIR R4 resources.

:func:`questionnaire` builds a ``Questionnaire`` from an instrument's cited data (items,
answer options with their ordinal values, the context questions it needs);
:func:`score_questionnaire_response` reads a ``QuestionnaireResponse`` to it, scores it with
:func:`benzosafe.clinical.instruments.score` and returns the :class:`Score` and an
``Observation`` holding the total, the band and every item. Everything built here is
validated with the ``fhir.resources`` R4B models before it is returned; input that is not a
valid QuestionnaireResponse is an :class:`InvalidInput`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from pydantic import ValidationError

from benzosafe.clinical.instruments import Score, instrument, score
from benzosafe.errors import InvalidInput
from benzosafe.knowledge import Knowledge

CANONICAL = "urn:benzosafe:questionnaire:"
INSTRUMENT_SYSTEM = "urn:benzosafe:instrument"
ITEM_SYSTEM = "urn:benzosafe:instrument-item"
SCALE_SYSTEM = "urn:benzosafe:response-scale:"
ORDINAL = "http://hl7.org/fhir/StructureDefinition/ordinalValue"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_CONTEXT_ITEMS: dict[str, dict[str, Any]] = {
    "age": {"linkId": "age", "text": "Age in whole years", "type": "integer"},
    "medical_supervision": {
        "linkId": "medical_supervision",
        "text": "Is the drug taken solely as prescribed under appropriate medical supervision?",
        "type": "boolean",
        "required": True,
    },
}


def _json(resource: Any) -> dict[str, Any]:
    return json.loads(resource.model_dump_json(exclude_none=True))  # type: ignore[no-any-return]


def questionnaire(instrument_id: str, kb: Knowledge) -> dict[str, Any]:
    """The instrument as a validated FHIR R4 Questionnaire (JSON object)."""
    inst = instrument(instrument_id, kb)
    items: list[dict[str, Any]] = []
    for fact in inst.context:
        context = dict(_CONTEXT_ITEMS[fact])
        if fact == "age":
            context["required"] = False
        items.append(context)
    for item in inst.items:
        scale = inst.scale(item)
        items.append(
            {
                "linkId": item.id,
                "text": item.text,
                "type": "choice",
                "required": not inst.allows_partial,
                "answerOption": [
                    {
                        "valueCoding": {
                            "system": SCALE_SYSTEM + scale.id,
                            "code": str(option.value),
                            "display": option.label,
                        },
                        "extension": [{"url": ORDINAL, "valueDecimal": option.value}],
                    }
                    for option in scale.options
                ],
            }
        )
    description = inst.purpose
    if inst.draft_reason:
        description += " DRAFT: " + inst.draft_reason
    sources = "; ".join(f"[{c.ref}] {c.section}".strip() for c in inst.sources)
    resource = {
        "resourceType": "Questionnaire",
        "id": inst.id,
        "url": CANONICAL + inst.id,
        "version": kb.assessment.version,
        "name": "Benzosafe" + "".join(p.capitalize() for p in inst.id.split("-")),
        "title": inst.name,
        "status": "active" if inst.status == "validated" else "draft",
        "description": f"{description} Sources: {sources}.",
        "code": [{"system": INSTRUMENT_SYSTEM, "code": inst.id, "display": inst.name}],
        "item": items,
    }
    return _json(Questionnaire.model_validate(resource))


def _bad(message: str, field: str = "QuestionnaireResponse") -> InvalidInput:
    return InvalidInput(field, message)


def _answer(entry: Any, link_id: str) -> object:
    answers = entry.answer or []
    if len(answers) != 1:
        raise _bad(f"expected exactly one answer, got {len(answers)}", f"item {link_id}")
    answer = answers[0]
    if answer.valueCoding is not None:
        code = answer.valueCoding.code or ""
        if not code.isdigit():
            raise _bad(f"answer code {code!r} is not one of the options", f"item {link_id}")
        return int(code)
    for value in (answer.valueInteger, answer.valueBoolean):
        if value is not None:
            return value
    raise _bad("answer must be a valueCoding, valueInteger or valueBoolean", f"item {link_id}")


def score_questionnaire_response(
    response: Mapping[str, Any], kb: Knowledge
) -> tuple[Score, dict[str, Any]]:
    """Score a QuestionnaireResponse to one of our Questionnaires; return (Score, Observation)."""
    try:
        qr = QuestionnaireResponse.model_validate(dict(response))
    except (ValidationError, ValueError, TypeError) as exc:
        first = str(exc).splitlines()[:3]
        raise _bad("not a valid FHIR R4 QuestionnaireResponse: " + " ".join(first)) from exc
    canonical = (qr.questionnaire or "").split("|")[0]
    if not canonical.startswith(CANONICAL):
        known = [CANONICAL + i for i in kb.assessment.instruments]
        raise InvalidInput("questionnaire", f"{canonical!r} is not one of ours", known)
    inst = instrument(canonical[len(CANONICAL) :], kb)
    if qr.status not in ("completed", "amended"):
        raise InvalidInput(
            "status",
            f"{qr.status!r}: only a finished response can be scored",
            ["completed", "amended"],
        )
    answers: dict[str, object] = {}
    context: dict[str, object] = {}
    for entry in qr.item or []:
        link_id = str(entry.linkId)
        if link_id in inst.context:
            context[link_id] = _answer(entry, link_id)
        else:
            value = _answer(entry, link_id)
            if link_id in answers:
                raise _bad("answered twice", f"item {link_id}")
            answers[link_id] = value
    result = score(
        inst.id,
        answers,
        kb,
        age=context.get("age"),
        medical_supervision=context.get("medical_supervision"),
    )
    return result, observation(result, qr)


def observation(result: Score, qr: QuestionnaireResponse | None = None) -> dict[str, Any]:
    """The score as a validated FHIR R4 Observation (JSON object)."""
    final = result.status == "validated" and not result.partial
    notes = [result.interpretation]
    if result.cutoff:
        notes.append(f"Cut-off applied: {result.cutoff}")
    skipped = [i for i in result.items if i.value is not None and not i.counted]
    if skipped:
        names = ", ".join(i.id for i in skipped)
        notes.append(f"Not counted in the total: {names} ({skipped[0].note})")
    notes.append("Sources: " + "; ".join(f"[{c.ref}] {c.section}".strip() for c in result.sources))
    notes.append(f"Knowledge version {result.knowledge_version}")
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final" if final else "preliminary",
        "category": [{"coding": [{"system": CATEGORY, "code": "survey", "display": "Survey"}]}],
        "code": {
            "coding": [
                {"system": INSTRUMENT_SYSTEM, "code": result.instrument, "display": result.name}
            ],
            "text": f"{result.name}: total score",
        },
        "valueInteger": result.total,
        "note": [{"text": text} for text in notes],
        "component": [
            {
                "code": {"coding": [{"system": ITEM_SYSTEM, "code": item.id}], "text": item.text},
                "valueInteger": item.value,
            }
            for item in result.items
            if item.value is not None
        ],
    }
    if result.band:
        resource["interpretation"] = [
            {
                "coding": [
                    {"system": f"{INSTRUMENT_SYSTEM}:{result.instrument}:band", "code": result.band}
                ],
                "text": result.band,
            }
        ]
    if qr is not None:
        if qr.subject is not None:
            resource["subject"] = json.loads(qr.subject.model_dump_json(exclude_none=True))
        if qr.authored is not None:
            resource["effectiveDateTime"] = qr.authored.isoformat()
        if qr.id:
            resource["derivedFrom"] = [{"reference": f"QuestionnaireResponse/{qr.id}"}]
    return _json(Observation.model_validate(resource))
