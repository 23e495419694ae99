"""Trusting the EHR: the JWT that a CDS client signs on every CDS Hooks call.

Only allow-listed issuers are accepted, each with its keys (:mod:`.keys`). Accepted
algorithms: ES384 (a P-384 EC key) and RS384 (an RSA key); ``none``, every HMAC algorithm,
a key of the other family and a key whose JWK names another ``alg`` are refused. The token
must name the URL that was called as its ``aud``; carry ``iss``, ``exp``, ``iat`` and
``jti``; live no longer than ``max_lifetime`` seconds (``exp - iat``, default 5 minutes, as
the CDS Hooks specification recommends); be neither expired nor used before its
``iat``/``nbf``, each within ``leeway`` seconds of clock skew (default 30); and its ``jti``
must not have been seen before by any worker sharing the store (a replay). Every refusal,
whatever the token holds, is an :class:`~benzosafe.errors.AuthError` (401) with the reason.
"""

from __future__ import annotations

import binascii
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ec import SECP384R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from benzosafe.errors import AuthError
from benzosafe.web.cds.keys import Issuer, TrustedIssuers
from benzosafe.web.cds.store import CdsStore

__all__ = ["ALGORITHMS", "Issuer", "TokenVerifier", "TrustedIssuers"]

# The signature checks themselves are PyJWT's; only the parsing around them is done here,
# once, instead of once unverified and once verified.
_VERIFIERS: dict[str, Any] = {
    "ES384": ECAlgorithm(ECAlgorithm.SHA384),
    "RS384": RSAAlgorithm(RSAAlgorithm.SHA384),
}
ALGORITHMS = tuple(_VERIFIERS)
_B64 = bytes.maketrans(b"-_", b"+/")
MAX_TOKEN_BYTES = 16 * 1024


def _b64url(segment: str) -> bytes:
    data = segment.encode("ascii").translate(_B64)
    return binascii.a2b_base64(data + b"=" * (-len(data) % 4), strict_mode=True)


def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    """Header, claims, signature and signed bytes of a compact JWS; AuthError if it is not one."""
    if len(token) > MAX_TOKEN_BYTES:
        raise AuthError(f"not a JWT: over {MAX_TOKEN_BYTES} bytes")
    parts = token.split(".")
    if len(parts) != 3:
        raise AuthError("not a JWT: it must have three dot-separated parts")
    try:
        header = orjson.loads(_b64url(parts[0]))
        claims = orjson.loads(_b64url(parts[1]))
        signature = _b64url(parts[2])
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise AuthError(f"not a JWT: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise AuthError("not a JWT: its header and claims must be JSON objects")
    return header, claims, signature, f"{parts[0]}.{parts[1]}".encode("ascii")


def _check_key(key: Any, alg: str, kid: str) -> None:
    """The key must be of the algorithm's family (and curve), and not restricted to another."""
    declared = key._jwk_data.get("alg")
    if declared is not None and declared != alg:
        raise AuthError(f"key {kid!r} is for {declared}, not {alg}")
    public = key.key
    if alg == "ES384":
        ok = isinstance(public, EllipticCurvePublicKey) and isinstance(public.curve, SECP384R1)
    else:
        ok = isinstance(public, RSAPublicKey)
    if not ok:
        raise AuthError(f"key {kid!r} is not a key for {alg}")


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthError(f"{name} must be a number of seconds")
    return float(value)


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("no Authorization header: a signed JWT (Bearer) is required")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("the Authorization header must be 'Bearer <JWT>'")
    return token.strip()


@dataclass(slots=True)
class TokenVerifier:
    trusted: TrustedIssuers
    store: CdsStore
    leeway: float = 30.0
    clock: Callable[[], float] = time.time
    max_lifetime: float = 300.0

    async def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The verified claims of the ``Authorization: Bearer`` token, or AuthError."""
        header, claims, signature, signed = _split(_bearer(authorization))
        alg = header.get("alg")
        if alg not in _VERIFIERS:
            raise AuthError(f"algorithm {alg!r} is refused (allowed: {', '.join(ALGORITHMS)})")
        if header.get("typ", "JWT") != "JWT":
            raise AuthError("typ must be 'JWT'")
        if "crit" in header:
            raise AuthError("the JWT header names critical extensions, which are not supported")
        iss = claims.get("iss")
        if not isinstance(iss, str) or not iss:
            raise AuthError("the token has no iss")
        key = await self.trusted.key_for(iss, header)
        _check_key(key, alg, str(header.get("kid")))
        try:
            valid = _VERIFIERS[alg].verify(signed, key.key, signature)
        except Exception as exc:  # any failure inside the crypto library is a refusal, not a 500
            raise AuthError(f"the signature cannot be checked: {type(exc).__name__}") from exc
        if not valid:
            raise AuthError("token refused: the signature does not verify")
        return await self._check_claims(claims, iss, audience)

    async def _check_claims(
        self, claims: dict[str, Any], iss: str, audience: str
    ) -> dict[str, Any]:
        for name in ("aud", "exp", "iat", "jti"):
            if name not in claims:
                raise AuthError(f"token refused: the token has no {name!r} claim")
        aud = claims["aud"]
        auds = aud if isinstance(aud, list) else [aud]
        if not all(isinstance(a, str) for a in auds) or audience not in auds:
            raise AuthError(f"wrong aud: the token must name {audience!r}")
        exp, iat, nbf = _number(claims, "exp"), _number(claims, "iat"), _number(claims, "nbf")
        if exp is None or iat is None:
            raise AuthError("token refused: exp and iat must be numbers of seconds")
        now = self.clock()
        if now > exp + self.leeway:
            raise AuthError("the token has expired")
        if iat > now + self.leeway:
            raise AuthError("the token is used before its iat")
        if nbf is not None and nbf > now + self.leeway:
            raise AuthError("the token is used before its nbf")
        if exp - iat > self.max_lifetime:
            raise AuthError(
                f"the token lives {exp - iat:.0f} s (exp - iat); at most "
                f"{self.max_lifetime:.0f} s is accepted"
            )
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > 512:
            raise AuthError("jti must be text (at most 512 characters)")
        if not await self.store.use_jti(f"{iss}\x1f{jti}", exp + self.leeway):
            raise AuthError("this token was already used (replayed jti)")
        return claims
