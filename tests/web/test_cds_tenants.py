"""Two EHRs on one CDS Hooks service are two tenants (issue #17, findings 1 and 6).

Over HTTP against the real server: what one EHR was shown at order-select never hides the
other EHR's cards at order-sign, and feedback is taken only on cards this service sent to the
EHR that gives it, stored with that EHR's issuer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cds_support import Ehr, Server, clonazepam_with_opioid, feedback_of, topics

from benzosafe.web.cds.keys import Issuer, TrustedIssuers
from benzosafe.web.cds.settings import CdsSettings

PUBLIC = "https://cds.example.org"
A = Ehr("https://ehr-a.example.org/")
B = Ehr("https://ehr-b.example.org/")
SELECT, SIGN = "benzosafe-order-select", "benzosafe-order-sign"


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    trusted = TrustedIssuers({e.iss: Issuer(e.iss, e.jwks()) for e in (A, B)})
    with Server(CdsSettings(public_url=PUBLIC, trusted=trusted)) as s:
        yield s


def _call(server: Server, ehr: Ehr, service: str, body: dict[str, Any]) -> httpx.Response:
    path = f"/cds-services/{service}"
    return httpx.post(server.url + path, json=body, headers=ehr.headers(PUBLIC + path), timeout=10)


def _feedback(server: Server, ehr: Ehr, cards: list[str]) -> httpx.Response:
    path = f"/cds-services/{SIGN}/feedback"
    items = [
        {"card": c, "outcome": "overridden", "outcomeTimestamp": "2026-11-25T10:05:31Z"}
        for c in cards
    ]
    return httpx.post(
        server.url + path,
        json={"feedback": items},
        headers=ehr.headers(PUBLIC + path),
        timeout=10,
    )


def test_one_ehrs_order_select_does_not_hide_another_ehrs_order_sign_cards(
    server: Server,
) -> None:
    """Finding 1: the same patient and draft ids from two EHRs are two patients."""
    select = _call(server, A, SELECT, clonazepam_with_opioid("order-select"))
    assert "concurrent-opioid" in topics(select.json()["cards"])
    sign_b = _call(server, B, SIGN, clonazepam_with_opioid("order-sign")).json()["cards"]
    opioid = [c for c in sign_b if c["source"].get("topic", {}).get("code") == "concurrent-opioid"]
    assert opioid and opioid[0]["indicator"] == "critical"
    # The EHR that was shown the card at order-select is not shown it again.
    sign_a = _call(server, A, SIGN, clonazepam_with_opioid("order-sign")).json()["cards"]
    assert sign_a == []


def test_feedback_on_a_card_never_issued_is_refused_and_nothing_is_stored(
    server: Server,
) -> None:
    """Finding 6: a made-up card uuid."""
    before = len(feedback_of(server))
    response = _feedback(server, A, ["5b0c6f5e-0000-4000-8000-000000000000"])
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["feedback[0].card"]
    assert "not a card this service sent" in issue["diagnostics"]
    assert len(feedback_of(server)) == before


def test_feedback_only_from_the_ehr_the_card_was_sent_to_and_stored_with_its_issuer(
    server: Server,
) -> None:
    body = clonazepam_with_opioid("order-select", patient="fb-1", draft="fb-draft")
    cards = [c["uuid"] for c in _call(server, A, SELECT, body).json()["cards"]]
    assert cards
    before = len(feedback_of(server))
    # B names A's card: refused, and A's good item in the same POST is not stored either.
    refused = _feedback(server, B, cards)
    assert refused.status_code == 400
    assert len(feedback_of(server)) == before
    stored = _feedback(server, A, cards)
    assert stored.status_code == 200 and stored.json() == {"stored": len(cards)}
    rows = feedback_of(server)[before:]
    assert [r["card"] for r in rows] == cards
    assert {r["issuer"] for r in rows} == {A.iss}
