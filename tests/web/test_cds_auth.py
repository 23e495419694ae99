"""The EHR's JWT: only allow-listed issuers, ES384/RS384, right aud, in time, used once.

Keys are made by the test; the specification's own example token is checked against its
published JWK set (../shared/vectors, skipped when absent).
"""

from __future__ import annotations

import http.server
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from cds_support import Server, vectors
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from benzosafe.errors import AuthError
from benzosafe.web.cds.app import create_cds_app
from benzosafe.web.cds.auth import Issuer, TokenVerifier, TrustedIssuers
from benzosafe.web.cds.settings import CdsSettings
from benzosafe.web.cds.store import CdsStore

ISS = "https://ehr.example.org/"
PUBLIC = "https://cds.example.org"
DISCOVERY_AUD = f"{PUBLIC}/cds-services"

EC_KEY = ec.generate_private_key(ec.SECP384R1())
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_EC_KEY = ec.generate_private_key(ec.SECP384R1())
JKU_KEY = ec.generate_private_key(ec.SECP384R1())


def _jwk(public_key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = ECAlgorithm if alg.startswith("ES") else RSAAlgorithm
    data: dict[str, Any] = json.loads(algorithm.to_jwk(public_key))
    return {**data, "kid": kid, "alg": alg, "use": "sig"}


JWKS = {
    "keys": [
        _jwk(EC_KEY.public_key(), "ec-1", "ES384"),
        _jwk(RSA_KEY.public_key(), "rsa-1", "RS384"),
    ]
}


class _JwksHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"keys": [_jwk(JKU_KEY.public_key(), "jku-1", "ES384")]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def jku_url() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _JwksHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/jwks.json"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def server(jku_url: str) -> Iterator[Server]:
    trusted = TrustedIssuers(
        {
            ISS: Issuer(ISS, JWKS, ()),
            "https://jku-ehr.example.org/": Issuer(
                "https://jku-ehr.example.org/", None, (jku_url,)
            ),
        }
    )
    with Server(CdsSettings(public_url=PUBLIC, trusted=trusted)) as s:
        yield s


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": ISS,
        "aud": DISCOVERY_AUD,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _token(
    claims: dict[str, Any] | None = None, key: Any = EC_KEY, alg: str = "ES384", **header: Any
) -> str:
    return jwt.encode(claims or _claims(), key, algorithm=alg, headers={"kid": "ec-1", **header})


def _discover(server: Server, token: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(f"{server.url}/cds-services", headers=headers, timeout=10)


def test_a_valid_es384_token_is_accepted(server: Server) -> None:
    assert _discover(server, _token()).status_code == 200


def test_a_valid_rs384_token_is_accepted(server: Server) -> None:
    token = _token(key=RSA_KEY, alg="RS384", kid="rsa-1")
    assert _discover(server, token).status_code == 200


def test_aud_may_be_a_list_naming_the_service(server: Server) -> None:
    assert _discover(server, _token(_claims(aud=[DISCOVERY_AUD]))).status_code == 200


def test_a_jku_on_the_allow_list_is_fetched(server: Server, jku_url: str) -> None:
    claims = _claims(iss="https://jku-ehr.example.org/")
    token = _token(claims, key=JKU_KEY, kid="jku-1", jku=jku_url)
    assert _discover(server, token).status_code == 200


def _unsigned(claims: dict[str, Any]) -> str:
    # PyJWT's typed spelling of "no key" for alg none ("" is read as None)
    return jwt.encode(claims, "", algorithm="none", headers={"kid": "ec-1"})


def _hmac(alg: str) -> str:
    # the classic confusion: the public key used as an HMAC secret
    secret = EC_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": alg, "typ": "JWT", "kid": "ec-1"}
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(_claims()).encode())}"
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    return f"{signing}.{b64(hmac.new(secret, signing.encode(), digest).digest())}"


REFUSED = {
    "no token": lambda url: None,
    "alg none": lambda url: _unsigned(_claims()),
    "HS256": lambda url: _hmac("HS256"),
    "HS384": lambda url: _hmac("HS384"),
    "HS512": lambda url: _hmac("HS512"),
    "ES256 (not allowed)": lambda url: jwt.encode(
        _claims(),
        ec.generate_private_key(ec.SECP256R1()),
        algorithm="ES256",
        headers={"kid": "ec-1"},
    ),
    "wrong aud": lambda url: _token(_claims(aud=f"{PUBLIC}/cds-services/other")),
    "aud of another host": lambda url: _token(_claims(aud="https://evil.example.org/cds-services")),
    "expired": lambda url: _token(_claims(exp=int(time.time()) - 120)),
    "iat in the future": lambda url: _token(_claims(iat=int(time.time()) + 600)),
    "nbf in the future": lambda url: _token(_claims(nbf=int(time.time()) + 600)),
    "no jti": lambda url: _token(_claims(jti=None)),
    "no exp": lambda url: _token(_claims(exp=None)),
    "unknown issuer": lambda url: _token(_claims(iss="https://other-ehr.example.org/")),
    "signed by another key": lambda url: _token(key=OTHER_EC_KEY),
    "unknown kid": lambda url: _token(kid="nope"),
    "jku not on the allow-list": lambda url: _token(jku="https://evil.example.org/jwks"),
    "not a JWT": lambda url: "not-a-jwt",
}


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_refused_tokens(kind: str, server: Server, jku_url: str) -> None:
    response = _discover(server, REFUSED[kind](jku_url))
    assert response.status_code == 401, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "security"


def test_a_replayed_jti_is_refused(server: Server) -> None:
    token = _token()
    assert _discover(server, token).status_code == 200
    again = _discover(server, token)
    assert again.status_code == 401
    assert "replayed" in again.json()["issue"][0]["diagnostics"]


def test_a_small_clock_skew_is_tolerated(server: Server) -> None:
    assert _discover(server, _token(_claims(iat=int(time.time()) + 10))).status_code == 200


def test_no_issuers_and_no_explicit_dev_mode_refuses_to_start() -> None:
    with pytest.raises(AuthError, match="development mode"):
        create_cds_app(CdsSettings())


def _spec_example() -> dict[str, Any]:
    path = vectors("cds-hooks-spec") / "jwt-example.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _spec_verifier(clock: Any) -> TokenVerifier:
    example = _spec_example()
    iss = example["expected_claims"]["iss"]
    jku = jwt.get_unverified_header(example["token"])["jku"]
    trusted = TrustedIssuers({iss: Issuer(iss, None, (jku,))})
    trusted.preload(jku, example["jwks"])  # the example's host does not exist: out of band
    return TokenVerifier(trusted, CdsStore(), clock=clock)


def test_the_specification_example_verifies_before_its_expiry() -> None:
    example = _spec_example()
    verifier = _spec_verifier(lambda: example["expected_claims"]["exp"] - 60)
    claims = verifier.verify(f"Bearer {example['token']}", example["expected_claims"]["aud"])
    assert claims == example["expected_claims"]


def test_the_specification_example_is_expired_today() -> None:
    example = _spec_example()
    verifier = _spec_verifier(time.time)
    with pytest.raises(AuthError, match="expired"):
        verifier.verify(f"Bearer {example['token']}", example["expected_claims"]["aud"])


def test_jwt_without_a_public_url_refuses_to_start() -> None:
    trusted = TrustedIssuers({ISS: Issuer(ISS, JWKS, ())})
    with pytest.raises(AuthError, match="public_url"):
        create_cds_app(CdsSettings(trusted=trusted))


def test_an_untrusted_caller_gets_401_before_its_body_is_read(server: Server) -> None:
    url = f"{server.url}/cds-services/benzosafe-order-sign/feedback"
    response = httpx.post(url, json={"feedback": "not a list"}, timeout=10)
    assert response.status_code == 401
    response = httpx.post(
        f"{server.url}/cds-services/benzosafe-order-sign", content=b"{", timeout=10
    )
    assert response.status_code == 401
