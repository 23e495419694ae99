"""Example CDS Hooks exchanges (``docs/guides/cds-hooks-examples.md``), made by the service.

Builds the CDS Hooks app without JWT (development settings, state in memory), sends it the
discovery call and an order-select call for a clonazepam draft beside a current opioid, and
writes the requests and the answers as they come back, so the page shows what the service
really says. ``python -m benzosafe.web.cds.examples --out docs/guides/cds-hooks-examples.md``
(``make docs``); a test keeps the page current.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
PATIENT = "example-1"


def _request(rx: dict[str, Any], *, status: str, rid: str) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT}"},
        **rx,
    }


ORDER_SELECT: dict[str, Any] = {
    "hook": "order-select",
    "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
    "context": {
        "userId": "Practitioner/example",
        "patientId": PATIENT,
        "selections": ["MedicationRequest/draft-1"],
        "draftOrders": {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {
                    "resource": _request(
                        {
                            "medicationCodeableConcept": {
                                "coding": [
                                    {
                                        "system": RXNORM,
                                        "code": "197527",
                                        "display": "Clonazepam 0.5 MG Oral Tablet",
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
                                        {"doseQuantity": {"value": 1, "unit": "mg", "code": "mg"}}
                                    ],
                                }
                            ],
                        },
                        status="draft",
                        rid="draft-1",
                    )
                }
            ],
        },
    },
    "prefetch": {
        # No birth date, so the page does not change with the calendar (the age is "not checked").
        "patient": {"resourceType": "Patient", "id": PATIENT},
        "medications": {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [
                {
                    "resource": _request(
                        {
                            "medicationCodeableConcept": {"text": "oxycodone 10 mg"},
                            "dosageInstruction": [
                                {
                                    "timing": {
                                        "repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}
                                    },
                                    "doseAndRate": [
                                        {"doseQuantity": {"value": 10, "unit": "mg", "code": "mg"}}
                                    ],
                                }
                            ],
                        },
                        status="active",
                        rid="rx-1",
                    )
                }
            ],
        },
        "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": []},
    },
}


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def exchanges() -> list[tuple[str, str, Any, int, Any]]:
    """(title, method and path, request body or None, status, answer) of each example call."""
    from fastapi.testclient import TestClient

    from benzosafe.web.cds.app import create_cds_app
    from benzosafe.web.cds.settings import CdsSettings

    app = create_cds_app(CdsSettings(allow_unauthenticated=True, state=":memory:"))
    calls: list[tuple[str, str, str, Any]] = [
        ("Discovery", "GET", "/cds-services", None),
        (
            "order-select: a clonazepam draft beside a current opioid",
            "POST",
            "/cds-services/benzosafe-order-select",
            ORDER_SELECT,
        ),
        ("An unknown service", "POST", "/cds-services/no-such-service", ORDER_SELECT),
    ]
    out = []
    with TestClient(app) as client:
        for title, method, path, body in calls:
            response = client.request(method, path, json=body)
            out.append((title, f"{method} {path}", body, response.status_code, response.json()))
    return out


def examples_markdown() -> str:
    """The page: each call's request and the service's answer, as JSON."""
    from benzosafe.knowledge import load

    version = load().version
    out = [
        "# CDS Hooks examples",
        "",
        "<!-- generated by `python -m benzosafe.web.cds.examples`; do not edit -->",
        "",
        "Requests sent to the CDS Hooks service and the answers it gave, made by calling the",
        "service itself (development settings: no JWT, state in memory). In production every",
        "call also carries the EHR's JWT (`Authorization: Bearer ...`; see the",
        "[EHR guide](ehr-cds-hooks.md)). The knowledge version in the answers is shown as",
        "`<knowledge-version>`.",
        "",
    ]
    for title, call, body, status, answer in exchanges():
        out += [f"## {title}", "", f"`{call}`", ""]
        if body is not None:
            out += ["Request:", "", "```json", _json(body), "```", ""]
        text = _json(answer).replace(version, "<knowledge-version>")
        out += [f"Answer ({status}):", "", "```json", text, "```", ""]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    """``python -m benzosafe.web.cds.examples [--out PAGE.md]``."""
    parser = argparse.ArgumentParser(prog="python -m benzosafe.web.cds.examples")
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    text = examples_markdown()
    if args.out is None:
        sys.stdout.write(text)
    else:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
