"""Conformance against third-party CDS Hooks material in ../shared/vectors (skipped when absent).

Every CDC recommendation-11 example (STU3 and R4, order-select and patient-view), with its
dates rolled to today as its dataDateRoller extension intends, gets a concurrent opioid +
benzodiazepine warning card exactly when its expected response has one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest
from cds_support import VECTORS, Server, dev_server_running, load_vector, roll_dates, vectors


@pytest.fixture(scope="module")
def dev_server() -> Iterator[Server]:
    with dev_server_running() as server:
        yield server


SERVICE_FOR_HOOK = {
    "order-select": "benzosafe-order-select",
    "order-sign": "benzosafe-order-sign",
    "patient-view": "benzosafe-patient-view",
}
EXAMPLES = sorted((VECTORS / "cdc-opioid-cds").glob("*/OpioidCDSREC11*/request-*.json"))


@pytest.mark.parametrize(
    "request_path",
    EXAMPLES or [pytest.param(None, marks=pytest.mark.skip(reason="vectors absent"))],
    ids=lambda p: f"{p.parts[-3]}/{p.stem.removeprefix('request-example-')}" if p else "none",
)
def test_rec11_example_gets_the_concurrent_use_card_exactly_when_expected(
    request_path: Path, dev_server: Server
) -> None:
    vectors("cdc-opioid-cds")
    body = roll_dates(load_vector(request_path), date.today())
    expected = load_vector(
        request_path.with_name(request_path.name.replace("request-", "response-"))
    )
    wants_card = any(
        "opioid" in c["summary"].lower() and "benzodiazepine" in c["summary"].lower()
        for c in expected["cards"]
    )
    service = SERVICE_FOR_HOOK[body["hook"]]
    response = httpx.post(f"{dev_server.url}/cds-services/{service}", json=body, timeout=10)
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    concurrent = [
        c for c in cards if c["source"].get("topic", {}).get("code") == "concurrent-opioid"
    ]
    assert bool(concurrent) == wants_card, [c["summary"] for c in cards]
    for card in concurrent:
        assert card["indicator"] in ("warning", "critical")
        assert "BZD-OPIOID" in card["detail"]
        assert card["source"]["url"].startswith("https://")
    for card in cards:
        assert len(card["summary"]) < 140
        assert card["source"]["label"]


def test_every_rec11_example_was_found() -> None:
    vectors("cdc-opioid-cds")
    hooks = {load_vector(p)["hook"] for p in EXAMPLES}
    versions = {p.parts[-3] for p in EXAMPLES}
    assert hooks == {"order-select", "patient-view"} and versions == {"stu3", "r4"}
    assert len(EXAMPLES) >= 16
