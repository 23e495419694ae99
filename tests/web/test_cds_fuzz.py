"""A property-based fuzz of the hook and feedback endpoints with authentication on (issue #17).

Hypothesis draws sequences of calls by two EHRs (two issuers) to the real server over HTTP:
order-select and order-sign for a few patients and drafts, feedback on cards issued to the
caller or to the other EHR or never issued, requests with parts replaced by arbitrary JSON,
and broken tokens. Properties: no answer is a 5xx; no card is lost (every order-sign answer
holds exactly the cards the evaluation gives, less those shown to the same EHR at
order-select for the same patient and draft); feedback is stored exactly when every card it
names was issued to its sender, and nothing otherwise.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import httpx
import pytest
from cds_support import Ehr, Server, clonazepam_with_opioid, feedback_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benzosafe.fhir.cards import evaluate, render_cards
from benzosafe.fhir.request import parse_hook_request
from benzosafe.knowledge import load
from benzosafe.web.cds.keys import Issuer, TrustedIssuers
from benzosafe.web.cds.settings import CdsSettings

PUBLIC = "https://cds.example.org"
EHRS = (Ehr("https://ehr-a.example.org/"), Ehr("https://ehr-b.example.org/"))
KB = load()
SERVICES = {"order-select": "benzosafe-order-select", "order-sign": "benzosafe-order-sign"}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    trusted = TrustedIssuers({e.iss: Issuer(e.iss, e.jwks()) for e in EHRS})
    with Server(CdsSettings(public_url=PUBLIC, trusted=trusted)) as s:
        yield s


def _post(
    server: Server, ehr: Ehr, path: str, body: Any, token: str | None = None
) -> httpx.Response:
    token = token if token is not None else ehr.token(PUBLIC + path)
    return httpx.post(
        server.url + path, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def _expected(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(finding key, card uuid) of every card the evaluation gives, before suppression."""
    service = KB.cds.service(SERVICES[body["hook"]])
    assert service is not None
    request = parse_hook_request(body, body["hook"])
    evaluation, _, _ = evaluate(KB, KB.cds, service, request, date.today())
    return [(c.key, c.body["uuid"]) for c in render_cards(KB, KB.cds, request, evaluation, None)]


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)  # JSON has no infinity to send
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
PLACES = ["hook", "hookInstance", "context", "prefetch", "fhirServer", "fhirAuthorization"]
CONTEXT = ["patientId", "draftOrders", "selections", "userId"]

STEP = st.one_of(
    st.tuples(
        st.just("hook"),
        st.sampled_from(["order-select", "order-sign"]),
        st.integers(0, 1),  # which EHR
        st.integers(0, 1),  # which patient
        st.integers(0, 1),  # which draft
        st.sampled_from([1, 2, 3]),  # the dose in mg (a changed draft is a new finding)
    ),
    st.tuples(st.just("feedback"), st.integers(0, 1), st.integers(0, 3), st.booleans()),
    st.tuples(
        st.just("junk"),
        st.sampled_from(["order-select", "order-sign"]),
        st.sampled_from(PLACES + [f"context.{c}" for c in CONTEXT]),
        JSON,
    ),
    st.tuples(st.just("junk-feedback"), JSON),
    st.tuples(
        st.just("bad-token"),
        st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=60),
        st.integers(0, 400),  # or a valid token with one character changed here
    ),
)


@given(steps=st.lists(STEP, min_size=1, max_size=8))
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_5xx_and_no_card_lost(server: Server, steps: list[tuple[Any, ...]]) -> None:
    run = uuid.uuid4().hex[:8]  # the server's state outlives an example: fresh ids per example
    shown: dict[int, set[str]] = {0: set(), 1: set()}
    issued: dict[int, list[str]] = {0: [], 1: []}
    feedback_path = "/cds-services/benzosafe-order-sign/feedback"
    for step in steps:
        kind = step[0]
        if kind == "hook":
            _, hook, who, patient, draft, dose = step
            body = clonazepam_with_opioid(hook, patient=f"{run}-p{patient}", draft=f"d{draft}")
            order = body["context"]["draftOrders"]["entry"][0]["resource"]
            order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] = dose
            response = _post(server, EHRS[who], f"/cds-services/{SERVICES[hook]}", body)
            assert response.status_code == 200, response.text
            got = [c["uuid"] for c in response.json()["cards"]]
            expected = _expected(body)
            if hook == "order-select":
                assert got == [u for _, u in expected]
                shown[who] |= {k for k, _ in expected}
            else:
                assert got == [u for k, u in expected if k not in shown[who]], "a card was lost"
            issued[who] += got
        elif kind == "feedback":
            _, who, pick, foreign = step
            mine = issued[who][-1 - pick :] if issued[who] else []
            others = [c for c in issued[1 - who] if c not in issued[who]]
            cards = mine + (others[:1] if foreign else [])
            if not cards:
                cards = [str(uuid.uuid4())]
            items = [
                {"card": c, "outcome": "overridden", "outcomeTimestamp": "2026-11-25T10:05:31Z"}
                for c in dict.fromkeys(cards)
            ]
            before = len(feedback_of(server))
            response = _post(server, EHRS[who], feedback_path, {"feedback": items})
            ok = all(c in issued[who] for c in cards)
            assert response.status_code == (200 if ok else 400), response.text
            assert len(feedback_of(server)) == before + (len(items) if ok else 0)
        elif kind == "junk":
            _, hook, place, value = step
            body = clonazepam_with_opioid(hook, patient=f"{run}-junk")
            target = body["context"] if place.startswith("context.") else body
            target[place.removeprefix("context.")] = copy.deepcopy(value)
            response = _post(server, EHRS[0], f"/cds-services/{SERVICES[hook]}", body)
            assert response.status_code in (200, 400, 412), response.text
            if response.status_code == 200:
                issued[0] += [c["uuid"] for c in response.json()["cards"]]
        elif kind == "junk-feedback":
            response = _post(server, EHRS[0], feedback_path, step[1])
            assert response.status_code in (200, 400), response.text
        else:
            _, text, at = step
            token = EHRS[0].token(PUBLIC + feedback_path)
            at %= len(token)
            tampered = token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]
            for bad in (text, tampered):
                response = _post(server, EHRS[0], feedback_path, {"feedback": []}, token=bad)
                assert response.status_code == 401, (bad, response.text)
                assert response.json()["resourceType"] == "OperationOutcome"
