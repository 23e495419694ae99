"""The CDS Hooks service applies the site protocol of BENZOSAFE_PROTOCOL and names it on cards."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from cds_support import dev_server_running

PROTOCOL = (
    '[protocol]\nname = "Ward 4 protocol"\nversion = "3"\nsource = "Ward 4 policy, 2026"\n'
    '[dose_limits]\nCLZ-DOSE-PANIC-MAX = "3 mg/day"\n'
)


def _order_select(daily_tablets: int) -> dict[str, Any]:
    draft = {
        "resourceType": "MedicationRequest",
        "id": "draft-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {"text": "Clonazepam 1 MG Oral Tablet"},
        "reasonCode": [{"text": "Panic disorder"}],
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": daily_tablets, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "mg"}}],
            }
        ],
    }
    empty = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    return {
        "hook": "order-select",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/1",
            "patientId": "p1",
            "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": draft}]},
        },
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": "p1", "birthDate": "1986-01-01"},
            "medications": empty,
            "conditions": empty,
        },
    }


def _cards(body: dict[str, Any]) -> list[dict[str, Any]]:
    with dev_server_running() as server:
        response = httpx.post(
            f"{server.url}/cds-services/benzosafe-order-select", json=body, timeout=10
        )
    assert response.status_code == 200, response.text
    cards: list[dict[str, Any]] = response.json()["cards"]
    return cards


def test_a_lower_site_maximum_fires_and_the_card_names_the_protocol(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BENZOSAFE_PROTOCOL", raising=False)
    default = _cards(_order_select(4))  # 4 mg/day: at the label's panic maximum
    assert not any("maximum" in c["summary"].lower() for c in default)
    assert not any("site protocol" in c["detail"] for c in default)

    path = tmp_path / "protocol.toml"
    path.write_text(PROTOCOL, encoding="utf-8")
    monkeypatch.setenv("BENZOSAFE_PROTOCOL", str(path))
    cards = _cards(_order_select(4))
    above = [c for c in cards if "maximum" in c["summary"].lower()]
    assert above, [c["summary"] for c in cards]
    assert all("site protocol Ward 4 protocol, version 3" in c["detail"] for c in cards)
