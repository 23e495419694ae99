"""A CDS Hooks call with any part of it replaced by other JSON: cards, or a clear
InvalidInput; never another exception (that would be a 500 in the EHR)."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benzosafe.errors import InvalidInput
from benzosafe.fhir.cards import evaluate, render_cards
from benzosafe.fhir.request import parse_hook_request
from benzosafe.knowledge import load

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=10,
)


def _med(mid: str, text: str, status: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": status,
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"coding": [{"code": "197528", "display": text}]},
        "reasonCode": [{"text": "Panic disorder"}],
        "authoredOn": "2026-11-01",
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "mg"}}],
            }
        ],
        "dispenseRequest": {
            "validityPeriod": {"start": "2026-11-01", "end": "2027-02-01"},
            "numberOfRepeatsAllowed": 2,
            "expectedSupplyDuration": {"value": 30, "code": "d"},
        },
    }


BASE: dict[str, Any] = {
    "hook": "order-select",
    "hookInstance": "h-1",
    "context": {
        "userId": "Practitioner/1",
        "patientId": "p1",
        "selections": ["MedicationRequest/d1"],
        "draftOrders": {
            "resourceType": "Bundle",
            "entry": [{"resource": _med("d1", "Clonazepam 1 MG Oral Tablet", "draft")}],
        },
    },
    "prefetch": {
        "patient": {"resourceType": "Patient", "id": "p1", "birthDate": "1950-02-03"},
        "medications": {
            "resourceType": "Bundle",
            "entry": [
                {"resource": _med("m1", "Oxycodone Hydrochloride 10 MG Oral Tablet", "active")},
                {
                    "resource": {
                        "resourceType": "Medication",
                        "id": "x",
                        "code": {"text": "zolpidem"},
                    }
                },
            ],
        },
        "conditions": {
            "resourceType": "Bundle",
            "entry": [
                {
                    "resource": {
                        "resourceType": "Condition",
                        "clinicalStatus": {"coding": [{"code": "active"}]},
                        "code": {"text": "Sleep apnea"},
                    }
                }
            ],
        },
    },
}


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


PATHS = _paths(BASE)


@given(st.lists(st.tuples(st.sampled_from(PATHS), JSON), min_size=1, max_size=3))
@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_mutation_gives_cards_or_a_clear_error(
    changes: list[tuple[tuple[Any, ...], Any]],
) -> None:
    body = copy.deepcopy(BASE)
    for path, value in changes:
        target: Any = body
        try:
            for step in path[:-1]:
                target = target[step]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed this place
    kb, cds = load(), load().cds
    service = cds.service("benzosafe-order-select")
    assert service is not None
    try:
        request = parse_hook_request(body, "order-select")
        evaluation, _, _ = evaluate(kb, cds, service, request, date(2026, 11, 25))
    except InvalidInput as exc:
        assert exc.field
        return
    for card in render_cards(kb, cds, request, evaluation, "https://app.example.org"):
        assert len(card.body["summary"]) < 140
        assert card.body["indicator"] in ("info", "warning", "critical")
