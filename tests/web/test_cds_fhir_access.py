"""The EHR's FHIR access token never leaves the allow-list (issue #17, finding 2).

A real FHIR server on loopback (answering the three prefetch queries under ``/fhir``, and an
``/internal-admin`` that must never be reached) records every request it gets; the CDS
service is called over HTTP with prefetch left out, so that it must fetch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
from cds_support import JsonHandler, Server, clonazepam_with_opioid, loopback, topics

from benzosafe.web.cds.settings import CdsSettings

TOKEN = "ehr-access-token"  # noqa: S105 - the test EHR's made-up FHIR token


class _Fhir(JsonHandler):
    seen: ClassVar[list[tuple[str, str | None]]] = []
    redirect_to: str | None = None

    def do_GET(self) -> None:
        _Fhir.seen.append((self.path, self.headers.get("Authorization")))
        path = self.path.split("?")[0]
        if _Fhir.redirect_to and path == "/fhir/Patient/p1":
            self.send_response(302)
            self.send_header("Location", _Fhir.redirect_to)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        full = clonazepam_with_opioid("order-select", patient="p1")["prefetch"]
        body: Any = {"resourceType": "OperationOutcome"}
        status = 404
        if path in ("/fhir/Patient/p1", "/fhir/Patient/p1-moved"):
            body, status = full["patient"], 200
        elif path.endswith("/MedicationRequest"):
            body, status = full["medications"], 200
        elif path.endswith("/Condition"):
            body, status = full["conditions"], 200
        self.answer(status, body, "application/fhir+json")


@pytest.fixture(scope="module")
def fhir() -> Iterator[str]:
    with loopback(_Fhir) as url:
        yield url


@pytest.fixture(autouse=True)
def _fresh() -> None:
    _Fhir.seen.clear()
    _Fhir.redirect_to = None


@pytest.fixture(scope="module")
def cds(fhir: str) -> Iterator[Server]:
    settings = CdsSettings(allow_unauthenticated=True, allowed_fhir_servers=(f"{fhir}/fhir",))
    with Server(settings) as s:
        yield s


def _call(cds: Server, server: str) -> httpx.Response:
    body = clonazepam_with_opioid("order-select", patient="p1")
    body["prefetch"] = {}
    body["fhirServer"] = server
    body["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer"}
    return httpx.post(f"{cds.url}/cds-services/benzosafe-order-select", json=body, timeout=10)


def test_the_allowed_server_is_fetched_with_the_token(cds: Server, fhir: str) -> None:
    response = _call(cds, f"{fhir}/fhir")
    assert response.status_code == 200, response.text
    assert "concurrent-opioid" in topics(response.json()["cards"])
    assert {p.split("?")[0] for p, _ in _Fhir.seen} == {
        "/fhir/Patient/p1",
        "/fhir/MedicationRequest",
        "/fhir/Condition",
    }
    assert {auth for _, auth in _Fhir.seen} == {f"Bearer {TOKEN}"}


ESCAPES = [
    "{fhir}/fhir/../internal-admin",
    "{fhir}/fhir/%2e%2e/internal-admin",
    "{fhir}/fhir/%2E%2E/internal-admin",
    "{fhir}/fhir/.%2e/internal-admin",
    "{fhir}/fhir/%252e%252e/internal-admin",
    "{fhir}/fhir/./../internal-admin",
    "{fhir}/fhir/x/../../internal-admin",
    "{fhir}/fhir/..%2finternal-admin",
    "{fhir}/fhir/%2f..%2finternal-admin",
    "{fhir}/fhir\\..\\internal-admin",
    "{fhir}/fhir//../internal-admin",
    "{fhir}/fhirx",
    "{fhir}/internal-admin",
    "{user}/fhir",
    "{other_port}/fhir",
    "https://{host}/fhir",
    "ftp://{host}/fhir",
    "{fhir}/fhir?x=/../internal-admin",
    "{fhir}/fhir#frag",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_a_server_off_the_allow_list_gets_no_request_and_no_token(
    cds: Server, fhir: str, template: str
) -> None:
    host = fhir.removeprefix("http://")
    port = int(host.rsplit(":", 1)[1])
    server = template.format(
        fhir=fhir,
        host=host,
        user=f"http://admin:pw@{host}",
        other_port=f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}",
    )
    response = _call(cds, server)
    assert response.status_code == 412, (server, response.text)
    assert response.json()["issue"][0]["expression"] == ["fhirServer"]
    assert _Fhir.seen == []


def test_a_redirect_off_the_allow_list_is_not_followed(cds: Server, fhir: str) -> None:
    _Fhir.redirect_to = f"{fhir}/internal-admin/Patient/p1"
    response = _call(cds, f"{fhir}/fhir")
    assert response.status_code == 412
    assert "redirected" in response.json()["issue"][0]["diagnostics"]
    assert [p for p, _ in _Fhir.seen] == ["/fhir/Patient/p1"]


def test_a_redirect_within_the_allow_list_is_followed(cds: Server, fhir: str) -> None:
    _Fhir.redirect_to = f"{fhir}/fhir/Patient/p1/../../fhir2/Patient/p1"
    assert _call(cds, f"{fhir}/fhir").status_code == 412  # dot segments: refused
    _Fhir.seen.clear()
    _Fhir.redirect_to = "/fhir/Patient/p1-moved"
    response = _call(cds, f"{fhir}/fhir")
    assert response.status_code == 200
    assert "/fhir/Patient/p1-moved" in [p for p, _ in _Fhir.seen]


def test_without_an_allow_list_nothing_is_fetched(fhir: str) -> None:
    with Server(CdsSettings(allow_unauthenticated=True)) as cds:
        response = _call(cds, f"{fhir}/fhir")
    assert response.status_code == 412
    assert "no FHIR server is allowed" in response.json()["issue"][0]["diagnostics"]
    assert _Fhir.seen == []


def test_the_development_switch_fetches_from_any_server(fhir: str) -> None:
    settings = CdsSettings(allow_unauthenticated=True, allow_any_fhir_server=True)
    with Server(settings) as cds:
        assert _call(cds, f"{fhir}/fhir").status_code == 200
        assert len(_Fhir.seen) == 3
        _Fhir.seen.clear()
        # even then, never through a dot segment
        assert _call(cds, f"{fhir}/fhir/../internal-admin").status_code == 412
    assert _Fhir.seen == []
