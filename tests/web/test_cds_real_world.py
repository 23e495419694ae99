"""The CDS Hooks service with what EHRs send (issue #16): indications as reasonCode codes or as
a reasonReference to a Condition (in the prefetch, contained, or fetched from the FHIR
server), active Conditions by SNOMED CT and ICD-10-CM codes, the highest labelled maximum
without an indication, combination opioids and buprenorphine by RxNorm code, and an
unidentified medication beside a current benzodiazepine. Calls go over HTTP to the real app.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest
from cds_support import Server, dev_server_running

from benzosafe.web.cds.settings import CdsSettings

SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
FHIR = "https://ehr.example.org/fhir"


@pytest.fixture(scope="module")
def dev_server() -> Iterator[Server]:
    with dev_server_running() as server:
        yield server


def _med(
    mid: str, concept: dict[str, Any], dose: dict[str, Any], per_day: int, **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": mid,
        "status": extra.pop("status", "active"),
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": concept,
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": dose}],
            }
        ],
        **extra,
    }


def _clonazepam(per_dose_mg: int, per_day: int, **extra: Any) -> dict[str, Any]:
    mg = {"value": per_dose_mg, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
    concept = {
        "coding": [{"system": RXNORM, "code": "197529", "display": "Clonazepam 2 MG Oral Tablet"}]
    }
    return _med("draft-1", concept, mg, per_day, status="draft", **extra)


def _condition(cid: str, system: str, code: str, status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": {"coding": [{"code": status}]},
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": "Patient/p1"},
    }


def _bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }


def _call(
    draft: dict[str, Any],
    meds: Sequence[dict[str, Any]] = (),
    conditions: Sequence[dict[str, Any]] = (),
    birth: str = "1986-01-01",
) -> dict[str, Any]:
    return {
        "hook": "order-select",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/1",
            "patientId": "p1",
            "draftOrders": _bundle(draft),
        },
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "p1", "birthDate": birth},
            "medications": _bundle(*meds),
            "conditions": _bundle(*conditions),
        },
    }


def _cards(server: Server, body: dict[str, Any]) -> list[dict[str, Any]]:
    response = httpx.post(
        f"{server.url}/cds-services/benzosafe-order-select", json=body, timeout=10
    )
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = response.json()["cards"]
    return cards


def _by_code(cards: list[dict[str, Any]], code: str) -> list[dict[str, Any]]:
    return [c for c in cards if c["source"].get("topic", {}).get("code") == code]


def test_clonazepam_24_mg_a_day_without_an_indication_is_above_the_maximum(
    dev_server: Server,
) -> None:
    cards = _cards(dev_server, _call(_clonazepam(6, 4)))
    (card,) = _by_code(cards, "dose-above-maximum")
    assert card["indicator"] == "critical" and "CLZ-DOSE-HIGHEST-MAX" in card["detail"]
    assert "20 mg/day" in card["summary"]
    action = card["suggestions"][0]["actions"][0]
    dose = action["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    assert dose["value"] == 5.0  # 20 mg/day in the order's 4 doses


@pytest.mark.parametrize(
    "reason",
    [
        {"reasonCode": [{"coding": [{"system": SNOMED, "code": "371631005"}]}]},
        {"reasonCode": [{"coding": [{"system": ICD10CM, "code": "F41.0"}]}]},
        {"reasonReference": [{"reference": "Condition/c-panic"}]},
        {
            "reasonReference": [{"reference": "#c1"}],
            "contained": [_condition("c1", SNOMED, "371631005")],
        },
    ],
    ids=["reasonCode-snomed", "reasonCode-icd10cm", "reasonReference", "contained"],
)
def test_the_indication_is_read_from_codes_and_references(
    dev_server: Server, reason: dict[str, Any]
) -> None:
    """Clonazepam 2 mg bid for panic disorder: the panic maximum (4 mg/day) applies."""
    panic = _condition("c-panic", SNOMED, "371631005", status="resolved")
    cards = _cards(dev_server, _call(_clonazepam(2, 3, **reason), conditions=[panic]))
    assert [c for c in _by_code(cards, "dose-above-maximum") if "CLZ-DOSE-PANIC-MAX" in c["detail"]]
    assert not any("no indication that benzosafe recognises" in c["detail"] for c in cards)


def test_a_reason_not_in_the_request_and_not_fetchable_is_said(dev_server: Server) -> None:
    draft = _clonazepam(2, 3, reasonReference=[{"reference": "Condition/elsewhere"}])
    cards = _cards(dev_server, _call(draft))
    (note,) = [c for c in cards if c["summary"].startswith("Not checked")]
    assert "Condition/elsewhere was not in the request" in note["detail"]


def _fhir_server(sent: list[str]) -> httpx.MockTransport:
    """The EHR's FHIR server (not our code): holds the Condition a draft names."""

    def handle(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        if request.url.path.endswith("/Condition/c-far"):
            return httpx.Response(200, json=_condition("c-far", ICD10CM, "F41.0"))
        return httpx.Response(404)

    return httpx.MockTransport(handle)


def test_a_reason_condition_is_fetched_from_the_fhir_server() -> None:
    sent: list[str] = []
    settings = CdsSettings(
        allow_unauthenticated=True,
        fhir_transport=_fhir_server(sent),
        allowed_fhir_servers=(FHIR,),
    )
    body = _call(_clonazepam(2, 3, reasonReference=[{"reference": "Condition/c-far"}]))
    body["fhirServer"] = FHIR
    body["fhirAuthorization"] = {
        "access_token": "t",
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "user/Condition.read",
        "subject": "benzosafe",
    }
    with Server(settings) as server:
        cards = _cards(server, body)
    assert sent == ["/fhir/Condition/c-far"]
    assert [c for c in _by_code(cards, "dose-above-maximum") if "CLZ-DOSE-PANIC-MAX" in c["detail"]]


def test_active_conditions_are_read_by_icd10cm_code(dev_server: Server) -> None:
    conditions = [_condition("a", ICD10CM, "G47.33"), _condition("b", ICD10CM, "K70.30")]
    cards = _cards(dev_server, _call(_clonazepam(1, 2), conditions=conditions))
    assert _by_code(cards, "caution-condition") and _by_code(cards, "contraindicated")
    resolved = [_condition("b", ICD10CM, "K70.30", status="resolved")]
    assert not _by_code(
        _cards(dev_server, _call(_clonazepam(1, 2), conditions=resolved)), "contraindicated"
    )


def test_buprenorphine_by_rxnorm_code_gets_the_keep_it_card(dev_server: Server) -> None:
    """Current Suboxone (buprenorphine/naloxone film, RxNorm from the CDC value set)."""
    suboxone = _med(
        "rx-9", {"coding": [{"system": RXNORM, "code": "1010606"}]}, {"value": 1, "unit": "film"}, 1
    )
    cards = _cards(dev_server, _call(_clonazepam(1, 2), meds=[suboxone]))
    (keep,) = _by_code(cards, "opioid-use-disorder-treatment")
    assert "do not stop or reduce" in keep["summary"]
    (opioid,) = _by_code(cards, "concurrent-opioid")
    assert "no MME conversion factor" in opioid["detail"]


def test_an_unidentified_draft_beside_a_current_benzodiazepine_is_a_card(
    dev_server: Server,
) -> None:
    current = _clonazepam(1, 2)
    current.update(id="rx-1", status="active")
    draft = _med(
        "draft-9",
        {"text": "Zyxolam 5 mg tablet"},
        {"value": 1, "unit": "tablet"},
        2,
        status="draft",
    )
    cards = _cards(dev_server, _call(draft, meds=[current]))
    (card,) = _by_code(cards, "unknown-co-medication")
    assert card["indicator"] == "warning" and "Zyxolam" in card["summary"]
