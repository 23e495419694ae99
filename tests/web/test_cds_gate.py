"""Authentication first, a bounded body, 401 for every token problem (issue #17, findings 3, 4
and 6), over HTTP against the real server: in a thread, and as ``benzosafe serve-cds``."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cds_support import CdsProcess, Ehr, Server, clonazepam_with_opioid, issuers_file
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from benzosafe.web.cds.keys import Issuer, TrustedIssuers
from benzosafe.web.cds.settings import CdsSettings

PUBLIC = "https://cds.example.org"
EHR = Ehr("https://ehr.example.org/", kid="ec-1")
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
SIGN = "/cds-services/benzosafe-order-sign"
FEEDBACK = SIGN + "/feedback"
LIMIT = 200_000


def _jwks() -> dict[str, Any]:
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    bare_ec = {k: v for k, v in EHR.jwk("ec-no-alg").items() if k != "alg"}
    return {"keys": [EHR.jwk(), {**rsa_jwk, "kid": "rsa-1", "alg": "RS384"}, bare_ec]}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    trusted = TrustedIssuers({EHR.iss: Issuer(EHR.iss, _jwks())})
    settings = CdsSettings(public_url=PUBLIC, trusted=trusted, max_body_bytes=LIMIT)
    with Server(settings) as s:
        yield s


def _claims(aud: str) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": EHR.iss, "aud": aud, "iat": now, "exp": now + 60, "jti": str(time.time_ns())}


def _mismatched(kind: str, aud: str) -> str:
    if kind == "RS384 naming an EC key":
        return jwt.encode(_claims(aud), RSA_KEY, algorithm="RS384", headers={"kid": "ec-1"})
    if kind == "RS384 naming an EC key without alg":
        return jwt.encode(_claims(aud), RSA_KEY, algorithm="RS384", headers={"kid": "ec-no-alg"})
    return jwt.encode(_claims(aud), EHR.key, algorithm="ES384", headers={"kid": "rsa-1"})


@pytest.mark.parametrize(
    "kind",
    ["RS384 naming an EC key", "RS384 naming an EC key without alg", "ES384 naming an RSA key"],
)
@pytest.mark.parametrize("path", ["/cds-services", SIGN, FEEDBACK])
def test_a_token_naming_a_key_of_another_algorithm_is_401_not_500(
    server: Server, kind: str, path: str
) -> None:
    """Finding 3."""
    token = _mismatched(kind, PUBLIC + path)
    method = "GET" if path == "/cds-services" else "POST"
    response = httpx.request(
        method,
        server.url + path,
        headers={"Authorization": f"Bearer {token}"},
        json={} if method == "POST" else None,
        timeout=10,
    )
    assert response.status_code == 401, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "security"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize("path", [FEEDBACK, SIGN])
def test_malformed_json_without_a_token_is_401(server: Server, path: str) -> None:
    """Finding 4: the body is not looked at before the caller is known."""
    response = httpx.post(server.url + path, content=b"{not json", timeout=10)
    assert response.status_code == 401
    assert response.json()["issue"][0]["code"] == "security"


def test_discovery_needs_a_token(server: Server) -> None:
    assert httpx.get(server.url + "/cds-services", timeout=10).status_code == 401
    ok = httpx.get(
        server.url + "/cds-services", headers=EHR.headers(PUBLIC + "/cds-services"), timeout=10
    )
    assert ok.status_code == 200


def test_a_token_living_ten_years_is_refused(server: Server) -> None:
    """Finding 6: exp ten years ahead."""
    headers = EHR.headers(PUBLIC + SIGN, lifetime=10 * 365 * 24 * 3600)
    response = httpx.post(
        server.url + SIGN, json=clonazepam_with_opioid("order-sign"), headers=headers, timeout=10
    )
    assert response.status_code == 401
    assert "exp - iat" in response.json()["issue"][0]["diagnostics"]
    # Five minutes, the default maximum, is accepted.
    ok = httpx.post(
        server.url + SIGN,
        json=clonazepam_with_opioid("order-sign", patient="life-1"),
        headers=EHR.headers(PUBLIC + SIGN, lifetime=300),
        timeout=10,
    )
    assert ok.status_code == 200


def test_a_body_over_the_limit_is_413(server: Server) -> None:
    """Finding 6: a large order-sign body, declared or sent in chunks."""
    body = clonazepam_with_opioid("order-sign")
    body["padding"] = "x" * (LIMIT + 1)
    raw = json.dumps(body).encode()
    declared = httpx.post(
        server.url + SIGN, content=raw, headers=EHR.headers(PUBLIC + SIGN), timeout=10
    )
    assert declared.status_code == 413
    assert declared.json()["issue"][0]["code"] == "too-long"

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(raw), 16_384):
            yield raw[i : i + 16_384]

    chunked = httpx.post(
        server.url + SIGN, content=chunks(), headers=EHR.headers(PUBLIC + SIGN), timeout=10
    )
    assert chunked.status_code == 413


def test_413_comes_before_the_body_is_sent(server: Server) -> None:
    """Declared too large: answered at once, the rest never read (the body is never sent)."""
    token = EHR.token(PUBLIC + SIGN)
    head = (
        f"POST {SIGN} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {5 * 1024 * 1024}\r\n\r\n"
    )
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode())
        answer = sock.recv(65536).decode("latin-1")
    assert answer.startswith("HTTP/1.1 413")
    assert "OperationOutcome" in answer


def test_a_huge_body_without_a_token_is_401_and_never_held_in_memory(tmp_path: Path) -> None:
    """Findings 4 and 6, against ``benzosafe serve-cds`` with its defaults: 148 MB without a
    JWT (its memory measured), and 5 MB with one."""
    issuers = issuers_file(tmp_path, EHR)
    args = ("--issuers", str(issuers), "--public-url", PUBLIC, "--state", ":memory:")
    with CdsProcess(tmp_path, *args) as cds:
        # warm up: the first call loads what a call needs
        httpx.get(cds.url + "/cds-services", headers=EHR.headers(PUBLIC + "/cds-services"))
        before = cds.memory_kb()
        chunk = b"x" * (1024 * 1024)

        def body() -> Iterator[bytes]:
            for _ in range(148):
                yield chunk

        response = httpx.post(
            cds.url + FEEDBACK,
            content=body(),
            headers={"Content-Length": str(148 * len(chunk))},
            timeout=60,
        )
        assert response.status_code == 401
        grown = cds.memory_kb() - before
        # With a valid token, 5 MB is over the default limit of 1 MB.
        order = clonazepam_with_opioid("order-sign")
        order["padding"] = "x" * 5_000_000
        big = httpx.post(cds.url + SIGN, json=order, headers=EHR.headers(PUBLIC + SIGN), timeout=60)
        assert big.status_code == 413
        assert "at most 1000000" in big.json()["issue"][0]["diagnostics"]
    assert grown < 30 * 1024, f"peak memory grew {grown} kB while refusing a 148 MB body"
