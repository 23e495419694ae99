"""The CDS Hooks service as an EHR sees it: discovery, cards, suggestions, each finding once,
prefetch fetched from the FHIR server or 412, feedback stored, bad input as OperationOutcome."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cds_support import Server, dev_server_running, feedback_of

from benzosafe.web.cds.settings import CdsSettings


@pytest.fixture(scope="module")
def dev_server() -> Iterator[Server]:
    with dev_server_running() as server:
        yield server


BIRTH_40 = "1986-01-01"


def _patient(birth: str = BIRTH_40) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", "birthDate": birth}


def _med(
    mid: str, display: str, dose: dict[str, Any], per_day: int, **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": extra.pop("status", "active"),
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": display},
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": dose}],
            }
        ],
        **extra,
    }


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def _call(
    hook: str, draft: dict[str, Any] | None, meds: list[dict[str, Any]], **more: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": "p1"},
        "prefetch": {
            "patient": _patient(more.pop("birth", BIRTH_40)),
            "medications": _bundle(*meds),
            "conditions": _bundle(*more.pop("conditions", [])),
        },
    }
    if draft is not None:
        body["context"]["draftOrders"] = _bundle(draft)
    body.update(more)
    return body


CLONAZEPAM_8MG = _med(
    "draft-1",
    "Clonazepam 2 MG Oral Tablet",
    {"value": 2, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"},
    4,
    status="draft",
    reasonCode=[{"text": "Panic disorder"}],
)
OXYCODONE = _med(
    "rx-2", "Oxycodone Hydrochloride 10 MG Oral Tablet", {"value": 1, "unit": "tablet"}, 4
)


def _post(server: Server, service: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/cds-services/{service}", json=body, timeout=10)


def test_discovery_lists_the_three_hooks_with_prefetch(dev_server: Server) -> None:
    services = httpx.get(f"{dev_server.url}/cds-services", timeout=10).json()["services"]
    assert {s["hook"] for s in services} == {"order-select", "order-sign", "patient-view"}
    for s in services:
        assert s["description"] and s["id"]
        assert s["prefetch"]["patient"] == "Patient/{{context.patientId}}"


def test_a_dose_above_the_maximum_gets_an_update_suggestion(dev_server: Server) -> None:
    cards = _post(
        dev_server, "benzosafe-order-select", _call("order-select", CLONAZEPAM_8MG, [])
    ).json()["cards"]
    dose = next(c for c in cards if c["source"]["topic"]["code"] == "dose-above-maximum")
    assert dose["indicator"] in ("warning", "critical")
    assert "CLZ-DOSE-PANIC-MAX" in dose["detail"]
    assert dose["selectionBehavior"] == "at-most-one"
    action = dose["suggestions"][0]["actions"][0]
    assert action["type"] == "update"
    updated = action["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    assert updated["value"] == 1.0 and updated["code"] == "mg"  # 4 mg/day in 4 doses
    assert action["resource"]["id"] == "draft-1"
    assert all(r["display"] for r in dose["overrideReasons"])


def test_a_finding_shown_at_order_select_is_not_shown_again_at_order_sign(
    dev_server: Server,
) -> None:
    meds = [OXYCODONE]
    draft = copy.deepcopy(CLONAZEPAM_8MG)
    draft["id"] = "draft-dedup"
    select = _post(dev_server, "benzosafe-order-select", _call("order-select", draft, meds)).json()[
        "cards"
    ]
    assert any(c["source"].get("topic", {}).get("code") == "concurrent-opioid" for c in select)
    sign = _post(dev_server, "benzosafe-order-sign", _call("order-sign", draft, meds)).json()[
        "cards"
    ]
    assert sign == []
    # a changed draft is a new finding
    draft["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = 3
    sign = _post(dev_server, "benzosafe-order-sign", _call("order-sign", draft, meds)).json()[
        "cards"
    ]
    assert any(
        c["source"]["topic"]["code"] == "dose-above-maximum" for c in sign if "topic" in c["source"]
    )


def test_an_opioid_draft_with_a_current_benzodiazepine(dev_server: Server) -> None:
    lorazepam = _med("rx-3", "Lorazepam 1 MG Oral Tablet", {"value": 1, "unit": "tablet"}, 2)
    draft = dict(OXYCODONE, id="draft-ox", status="draft")
    cards = _post(
        dev_server, "benzosafe-order-select", _call("order-select", draft, [lorazepam])
    ).json()["cards"]
    assert [c["source"]["topic"]["code"] for c in cards] == ["concurrent-opioid"]
    assert "60 MME/day" in cards[0]["summary"]


def test_patient_view_older_adult_and_a_taper_link(dev_server: Server) -> None:
    clonazepam = _med("rx-4", "Clonazepam 0.5 MG Oral Tablet", {"value": 1, "unit": "tablet"}, 2)
    zolpidem = _med(
        "rx-5", "Zolpidem Tartrate 10 MG Oral Tablet", {"value": 1, "unit": "tablet"}, 1
    )
    body = _call("patient-view", None, [clonazepam, zolpidem], birth="1950-01-01")
    cards = _post(dev_server, "benzosafe-patient-view", body).json()["cards"]
    codes = {c["source"]["topic"]["code"] for c in cards}
    assert codes == {"older-adult", "concurrent-cns-depressant"}
    link = cards[0]["links"][0]
    assert link["type"] == "absolute"
    assert link["url"].startswith("https://app.example.org/taper/new?drug=clonazepam")


def test_patient_view_links_a_taper_proposal_the_clinic_serves_as_fhir(
    dev_server: Server, clinician: Any
) -> None:
    """The card's second link is a FHIR Bundle of a proposed plan, served by the clinic app."""
    from urllib.parse import urlsplit

    from fhir.resources.R4B.bundle import Bundle

    clonazepam = _med("rx-6", "Clonazepam 0.5 MG Oral Tablet", {"value": 1, "unit": "tablet"}, 2)
    body = _call("patient-view", None, [clonazepam], birth="1950-01-01")
    cards = _post(dev_server, "benzosafe-patient-view", body).json()["cards"]
    links = [link for card in cards for link in card.get("links", [])]
    (proposal,) = {link["url"] for link in links if "FHIR" in link["label"]}
    url = urlsplit(proposal)
    assert url.netloc == "app.example.org" and url.path == "/api/taper/preview.fhir.json"
    response = clinician.get(f"{url.path}?{url.query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    Bundle.model_validate(bundle)
    first = bundle["entry"][1]["resource"]  # 0.5 mg twice a day: 1 mg/day at the start
    doses = [d["doseAndRate"][0]["doseQuantity"]["value"] for d in first["dosageInstruction"]]
    assert doses == [0.5, 0.5] and bundle["entry"][0]["resource"]["status"] == "draft"


def test_an_unrecognised_draft_is_said_not_checked(dev_server: Server) -> None:
    draft = _med("d-9", "Amoxicillin 500 MG Oral Capsule", {"value": 1, "unit": "capsule"}, 3)
    cards = _post(dev_server, "benzosafe-order-select", _call("order-select", draft, [])).json()[
        "cards"
    ]
    assert len(cards) == 1 and cards[0]["indicator"] == "info"
    assert "Amoxicillin" in cards[0]["detail"] and "not checked" in cards[0]["detail"]


def test_missing_prefetch_without_fhir_access_is_412(dev_server: Server) -> None:
    body = _call("order-select", CLONAZEPAM_8MG, [])
    body["prefetch"] = {}
    response = _post(dev_server, "benzosafe-order-select", body)
    assert response.status_code == 412
    assert response.json()["resourceType"] == "OperationOutcome"


def _fhir_server(fail: bool) -> httpx.MockTransport:
    """The EHR's FHIR server (not our code): answers the three prefetch queries."""

    def handle(request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == "Bearer secret-token"
        if fail:
            return httpx.Response(503)
        path = request.url.path
        if path.endswith("/Patient/p1"):
            return httpx.Response(200, json=_patient())
        if path.endswith("/MedicationRequest"):
            return httpx.Response(200, json=_bundle(OXYCODONE))
        if path.endswith("/Condition"):
            return httpx.Response(200, json=_bundle())
        return httpx.Response(404)

    return httpx.MockTransport(handle)


@pytest.fixture(params=[False, True], ids=["fhir-up", "fhir-down"])
def fetching_server(request: pytest.FixtureRequest) -> Iterator[tuple[Server, bool]]:
    settings = CdsSettings(
        allow_unauthenticated=True,
        allowed_fhir_servers=("https://ehr.example.org/fhir",),
        fhir_transport=_fhir_server(request.param),
    )
    with Server(settings) as server:
        yield server, request.param


def test_missing_prefetch_is_fetched_from_the_fhir_server(
    fetching_server: tuple[Server, bool],
) -> None:
    server, down = fetching_server
    body = _call("order-select", CLONAZEPAM_8MG, [])
    body["prefetch"] = {}
    body["fhirServer"] = "https://ehr.example.org/fhir"
    body["fhirAuthorization"] = {
        "access_token": "secret-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "user/MedicationRequest.read",
        "subject": "benzosafe",
    }
    response = _post(server, "benzosafe-order-select", body)
    if down:
        assert response.status_code == 412
        return
    assert response.status_code == 200
    codes = {c["source"].get("topic", {}).get("code") for c in response.json()["cards"]}
    assert "concurrent-opioid" in codes


def _issued_cards(server: Server) -> list[str]:
    """The uuids of cards the server sent (feedback is taken only on those)."""
    draft = dict(CLONAZEPAM_8MG, id=f"draft-{uuid.uuid4()}")
    body = _call("order-select", draft, [OXYCODONE])
    cards = _post(server, "benzosafe-order-select", body).json()["cards"]
    assert len(cards) >= 2
    return [c["uuid"] for c in cards]


def test_feedback_is_stored(dev_server: Server) -> None:
    card_1, card_2, *_ = _issued_cards(dev_server)
    feedback = {
        "feedback": [
            {
                "card": card_1,
                "outcome": "overridden",
                "overrideReason": {
                    "reason": {
                        "code": "palliative-care",
                        "system": "urn:benzosafe:cds-hooks:override-reason",
                    },
                    "userComment": "hospice",
                },
                "outcomeTimestamp": "2026-11-25T10:05:31Z",
            },
            {
                "card": card_2,
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": "s-1"}],
                "outcomeTimestamp": "2026-11-25T10:06:00Z",
            },
        ]
    }
    response = httpx.post(
        f"{dev_server.url}/cds-services/benzosafe-order-sign/feedback", json=feedback, timeout=10
    )
    assert response.status_code == 200 and response.json() == {"stored": 2}
    stored = feedback_of(dev_server, "benzosafe-order-sign")
    assert [f["card"] for f in stored[-2:]] == [card_1, card_2]
    assert {f["issuer"] for f in stored[-2:]} == {""}  # the development mode's caller
    assert (
        stored[-2]["override_code"] == "palliative-care" and stored[-2]["user_comment"] == "hospice"
    )
    assert stored[-1]["accepted_suggestions"] == [{"id": "s-1"}]


@pytest.mark.parametrize(
    "payload",
    [
        {"feedback": []},
        {
            "feedback": [
                {"card": "c", "outcome": "maybe", "outcomeTimestamp": "2026-11-25T10:00:00Z"}
            ]
        },
        {
            "feedback": [
                {"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-25T10:00:00Z"}
            ]
        },
        {"feedback": [{"card": "c", "outcome": "overridden"}]},
    ],
    ids=["empty", "bad-outcome", "accepted-without-suggestion", "no-timestamp"],
)
def test_bad_feedback_is_refused_and_nothing_is_stored(
    dev_server: Server, payload: dict[str, Any]
) -> None:
    before = len(feedback_of(dev_server))
    response = httpx.post(
        f"{dev_server.url}/cds-services/benzosafe-order-sign/feedback", json=payload, timeout=10
    )
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert len(feedback_of(dev_server)) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"hook": "patient-view"}, "hook"),
        ({"context": {"userId": "Practitioner/1"}}, "context.patientId"),
        ({"hookInstance": ""}, "hookInstance"),
        ({"prefetch": {"medications": "yes"}}, "prefetch.medications"),
        ({"fhirAuthorization": {"access_token": "t"}}, "fhirServer"),
    ],
)
def test_bad_requests_are_operation_outcomes_naming_the_field(
    dev_server: Server, change: dict[str, Any], field: str
) -> None:
    body = _call("order-select", CLONAZEPAM_8MG, [])
    body.update(change)
    response = _post(dev_server, "benzosafe-order-select", body)
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == [field]


def test_legacy_stu3_quirks_are_accepted(dev_server: Server) -> None:
    draft = copy.deepcopy(CLONAZEPAM_8MG)
    dosage = draft["dosageInstruction"][0]
    dosage["doseQuantity"] = dosage.pop("doseAndRate")[0]["doseQuantity"]
    draft["category"] = {"coding": [{"code": "community"}]}
    body = {
        "hook": "order-select",
        "hookInstance": str(uuid.uuid4()),
        "context": {"user": "Practitioner/1", "patientId": "Patient/p1", "draftOrders": draft},
        "prefetch": {
            "item1": {"response": {"status": "200 OK"}, "resource": _patient()},
            "item2": None,
        },
    }
    cards = _post(dev_server, "benzosafe-order-select", body).json()["cards"]
    assert any(c["source"].get("topic", {}).get("code") == "dose-above-maximum" for c in cards)


def test_an_unreadable_current_medication_is_said_not_checked(dev_server: Server) -> None:
    broken = {"resourceType": "MedicationRequest", "id": "bad-1", "status": 7}
    body = _call("order-select", CLONAZEPAM_8MG, [broken, OXYCODONE])
    cards = _post(dev_server, "benzosafe-order-select", body).json()["cards"]
    assert any(c["source"].get("topic", {}).get("code") == "concurrent-opioid" for c in cards)
    assert "bad-1" in cards[-1]["detail"] and cards[-1]["indicator"] == "info"


def test_an_active_condition_is_recognised_by_its_name(dev_server: Server) -> None:
    apnoea = {
        "resourceType": "Condition",
        "id": "c1",
        "clinicalStatus": {"coding": [{"code": "active"}]},
        "code": {
            "coding": [
                {"system": "http://snomed.info/sct", "code": "73430006", "display": "Sleep apnea"}
            ]
        },
        "subject": {"reference": "Patient/p1"},
    }
    resolved = dict(apnoea, id="c2", clinicalStatus={"coding": [{"code": "resolved"}]})
    body = _call("order-select", CLONAZEPAM_8MG, [], conditions=[apnoea])
    cards = _post(dev_server, "benzosafe-order-select", body).json()["cards"]
    assert any("CLZ-CAUTION-RESPIRATORY" in c["detail"] for c in cards)
    body = _call("order-select", CLONAZEPAM_8MG, [], conditions=[resolved])
    cards = _post(dev_server, "benzosafe-order-select", body).json()["cards"]
    assert not any("CLZ-CAUTION-RESPIRATORY" in c["detail"] for c in cards)


def test_a_fhir_server_off_the_allow_list_is_not_fetched() -> None:
    settings = CdsSettings(
        allow_unauthenticated=True,
        allowed_fhir_servers=("https://ehr.example.org/fhir",),
        fhir_transport=_fhir_server(False),
    )
    body = _call("order-select", CLONAZEPAM_8MG, [])
    body["prefetch"] = {}
    body["fhirAuthorization"] = {"access_token": "secret-token", "token_type": "Bearer"}
    with Server(settings) as server:
        body["fhirServer"] = "https://elsewhere.example.org/fhir"
        refused = _post(server, "benzosafe-order-select", body)
        assert refused.status_code == 412
        assert refused.json()["issue"][0]["expression"] == ["fhirServer"]
        body["fhirServer"] = "https://ehr.example.org/fhir"
        assert _post(server, "benzosafe-order-select", body).status_code == 200


def test_an_opioid_draft_interaction_is_shown_once_per_draft(dev_server: Server) -> None:
    lorazepam = _med("rx-6", "Lorazepam 1 MG Oral Tablet", {"value": 1, "unit": "tablet"}, 2)
    draft = dict(OXYCODONE, id="draft-ox-once", status="draft")
    select = _call("order-select", draft, [lorazepam])
    assert _post(dev_server, "benzosafe-order-select", select).json()["cards"]
    sign = _call("order-sign", draft, [lorazepam])
    assert _post(dev_server, "benzosafe-order-sign", sign).json()["cards"] == []
    other = _call("order-sign", dict(draft, id="draft-ox-other"), [lorazepam])
    assert _post(dev_server, "benzosafe-order-sign", other).json()["cards"]


def test_order_select_checks_the_selected_draft(dev_server: Server) -> None:
    lorazepam = _med("draft-lz", "Lorazepam 1 MG Oral Tablet", {"value": 1, "unit": "tablet"}, 2)
    body = _call("order-select", None, [])
    body["context"]["draftOrders"] = _bundle(dict(lorazepam, status="draft"), CLONAZEPAM_8MG)
    body["context"]["selections"] = ["MedicationRequest/draft-lz"]
    cards = _post(dev_server, "benzosafe-order-select", body).json()["cards"]
    codes = {c["source"].get("topic", {}).get("code") for c in cards}
    assert "dose-above-maximum" not in codes  # the clonazepam draft was not selected
    assert "duplicate-benzodiazepine" in codes  # but it counts alongside the selected one
