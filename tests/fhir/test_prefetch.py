"""Fetching missing CDS Hooks prefetch from the EHR's FHIR server: which queries are sent, with
which token and timeout, and every way it can fail as a Precondition naming the place."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from benzosafe.errors import Precondition
from benzosafe.fhir.prefetch import PREFETCH_TEMPLATES, complete_prefetch, missing_prefetch
from benzosafe.fhir.request import HookRequest, parse_hook_request

SERVER = "https://ehr.example.org/fhir"
PATIENT = {"resourceType": "Patient", "id": "p1", "birthDate": "1986-01-01"}
EMPTY = {"resourceType": "Bundle", "type": "searchset"}


def _empty_bundle(_: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json=EMPTY)


def _request(prefetch: dict[str, Any], **more: Any) -> HookRequest:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": "a1",
        "context": {"patientId": "p1"},
        "prefetch": prefetch,
        **more,
    }
    return parse_hook_request(body, "patient-view")


def _with_token(prefetch: dict[str, Any], server: str = SERVER) -> HookRequest:
    return _request(prefetch, fhirServer=server, fhirAuthorization={"access_token": "tok"})


def _fetch(
    hook_request: HookRequest,
    answer: httpx.Response | Callable[[httpx.Request], httpx.Response],
    allowed: tuple[str, ...] | None = None,
) -> tuple[HookRequest, list[httpx.Request]]:
    sent: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answer if isinstance(answer, httpx.Response) else answer(request)

    done = asyncio.run(
        complete_prefetch(
            hook_request,
            timeout_seconds=2.5,
            allowed_servers=allowed,
            allow_any_server=allowed is None,  # the development switch
            transport=httpx.MockTransport(handle),
        )
    )
    return done, sent


def test_discovery_templates_are_the_three_queries() -> None:
    assert PREFETCH_TEMPLATES == {
        "patient": "Patient/{{context.patientId}}",
        "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
        "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
    }


def test_a_complete_prefetch_sends_nothing() -> None:
    full = {"patient": PATIENT, "medications": EMPTY, "conditions": EMPTY}
    hook_request = _request(full)
    assert missing_prefetch(hook_request) == []
    assert _fetch(hook_request, httpx.Response(500)) == (hook_request, [])


def test_legacy_keys_with_the_patient_are_taken_at_their_word() -> None:
    assert missing_prefetch(_request({"item1": PATIENT})) == []
    assert missing_prefetch(_request({"item1": EMPTY})) == [
        "patient",
        "medications",
        "conditions",
    ]


def test_missing_entries_are_fetched_with_the_bearer_token_and_timeout() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=PATIENT if "Patient" in request.url.path else EMPTY)

    done, sent = _fetch(_with_token({"conditions": EMPTY}, SERVER + "/"), answer)
    assert [str(r.url) for r in sent] == [
        f"{SERVER}/Patient/p1",
        f"{SERVER}/MedicationRequest?patient=p1&status=active",
    ]
    for request in sent:
        assert request.method == "GET"
        assert request.headers["authorization"] == "Bearer tok"
        assert request.headers["accept"] == "application/fhir+json"
        assert request.extensions["timeout"] == dict.fromkeys(
            ("connect", "read", "write", "pool"), 2.5
        )
    assert done.prefetch == {"conditions": EMPTY, "patient": PATIENT, "medications": EMPTY}


def test_a_patient_not_found_is_no_data() -> None:
    done, _ = _fetch(_with_token({"medications": EMPTY, "conditions": EMPTY}), httpx.Response(404))
    assert done.prefetch["patient"] is None


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (httpx.Response(503), "could not fetch medications from the FHIR server"),
        (httpx.Response(404), "could not fetch medications from the FHIR server"),
        (httpx.Response(200, text="not json"), "could not fetch medications"),
        (httpx.Response(302, headers={"location": "https://elsewhere.example"}), "redirected"),
        (httpx.Response(200, json=["a list"]), "the FHIR server's medications is not a resource"),
        (
            httpx.Response(200, json={"resourceType": "OperationOutcome"}),
            "the FHIR server answered medications with an error",
        ),
    ],
    ids=["503", "404", "not-json", "redirect", "not-a-resource", "operation-outcome"],
)
def test_a_failed_fetch_is_a_precondition_on_its_key(answer: httpx.Response, message: str) -> None:
    with pytest.raises(Precondition, match=message) as raised:
        _fetch(_with_token({"patient": PATIENT, "conditions": EMPTY}), answer)
    assert raised.value.field == "prefetch.medications"


def test_without_server_and_token_nothing_can_be_fetched() -> None:
    with pytest.raises(Precondition, match="prefetch lacks medications, conditions") as raised:
        _fetch(_request({"patient": PATIENT}), httpx.Response(500))
    assert raised.value.field == "prefetch.medications"


@pytest.mark.parametrize(
    ("server", "allowed"),
    [
        (SERVER, (SERVER,)),
        (SERVER + "/", (SERVER,)),
        (SERVER, (SERVER + "/",)),
        (SERVER + "/tenant-1", ("https://other.example", SERVER)),
    ],
)
def test_an_allowed_server_is_fetched_from(server: str, allowed: tuple[str, ...]) -> None:
    _, sent = _fetch(_with_token({"patient": PATIENT, "medications": EMPTY}, server), _empty_bundle)
    assert len(sent) == 1
    _, sent = _fetch(
        _with_token({"patient": PATIENT, "medications": EMPTY}, server), _empty_bundle, allowed
    )
    assert len(sent) == 1


@pytest.mark.parametrize(
    "server",
    ["https://ehr.example.org/fhirx", "https://evil.example/fhir", "http://ehr.example.org"],
)
def test_a_server_not_allowed_is_refused_before_any_request(server: str) -> None:
    with pytest.raises(Precondition, match="is not an allowed FHIR server") as raised:
        _fetch(_with_token({"patient": PATIENT}, server), _empty_bundle, (SERVER,))
    assert raised.value.field == "fhirServer"
