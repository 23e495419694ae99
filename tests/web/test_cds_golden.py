"""Golden CDS Hooks responses: discovery, and the cards of one order-select call.

The knowledge version (which changes with any data file) is replaced by a placeholder.
Regenerate with BENZOSAFE_REGEN_GOLDEN=1.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from cds_support import Server, dev_server_running

from benzosafe.knowledge import load

GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN = os.environ.get("BENZOSAFE_REGEN_GOLDEN") == "1"

_TODAY = date.today()
BIRTH = date(_TODAY.year - 70, _TODAY.month, 1).isoformat()
REQUEST: dict[str, Any] = {
    "hook": "order-select",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {
        "userId": "Practitioner/example",
        "patientId": "golden-1",
        "draftOrders": {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {
                    "resource": {
                        "resourceType": "MedicationRequest",
                        "id": "draft-golden",
                        "status": "draft",
                        "intent": "order",
                        "subject": {"reference": "Patient/golden-1"},
                        "medicationCodeableConcept": {
                            "coding": [
                                {
                                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                    "code": "197529",
                                    "display": "Clonazepam 2 MG Oral Tablet",
                                }
                            ]
                        },
                        "reasonCode": [{"text": "Panic disorder"}],
                        "dosageInstruction": [
                            {
                                "timing": {
                                    "repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}
                                },
                                "doseAndRate": [
                                    {"doseQuantity": {"value": 2, "unit": "mg", "code": "mg"}}
                                ],
                            }
                        ],
                    }
                }
            ],
        },
    },
    "prefetch": {
        # 70 years old on any day the test runs (born on the 1st of this month, 70 years ago)
        "patient": {"resourceType": "Patient", "id": "golden-1", "birthDate": BIRTH},
        "medications": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [
                {
                    "resource": {
                        "resourceType": "MedicationRequest",
                        "id": "rx-golden",
                        "status": "active",
                        "intent": "order",
                        "subject": {"reference": "Patient/golden-1"},
                        "medicationCodeableConcept": {
                            "text": "Fentanyl 0.025 MG/HR Transdermal System"
                        },
                        "dosageInstruction": [
                            {"timing": {"repeat": {"frequency": 1, "period": 3, "periodUnit": "d"}}}
                        ],
                    }
                }
            ],
        },
        "conditions": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [
                {
                    "resource": {
                        "resourceType": "Condition",
                        "subject": {"reference": "Patient/golden-1"},
                        "code": {"text": "Sleep apnea"},
                    }
                }
            ],
        },
    },
}


@pytest.fixture(scope="module")
def server() -> Any:
    with dev_server_running() as running:
        yield running


def _check(name: str, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=True).replace(load().version, "<knowledge-version>")
    path = GOLDEN / name
    if REGEN:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    assert path.exists(), f"{name} missing: run with BENZOSAFE_REGEN_GOLDEN=1"
    assert path.read_text(encoding="utf-8") == text + "\n", f"{name} changed"


def test_discovery_golden(server: Server) -> None:
    _check("discovery.json", httpx.get(f"{server.url}/cds-services", timeout=10).json())


def test_order_select_cards_golden(server: Server) -> None:
    url = f"{server.url}/cds-services/benzosafe-order-select"
    response = httpx.post(url, json=REQUEST, timeout=10)
    assert response.status_code == 200
    _check("order-select-cards.json", response.json())
