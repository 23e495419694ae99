"""Trusting the EHR: the JWT that a CDS client signs on every CDS Hooks call.

Only allow-listed issuers are accepted, each with its JWK set (a configured file or inline
set, or a ``jku`` URL that is itself on the issuer's allow-list). Accepted algorithms: ES384
and RS384; ``none`` and every HMAC (symmetric) algorithm are refused. The token must name the
URL that was called as its ``aud``, carry ``iss``, ``exp``, ``iat`` and ``jti``, not be
expired, not be used before ``iat``/``nbf`` beyond a small leeway, and its ``jti`` must not
have been seen before (a replay). Every refusal is an :class:`AuthError` with the reason.
"""

from __future__ import annotations

import json
import threading
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWK, PyJWKSet

from benzosafe.errors import AuthError
from benzosafe.web.cds.store import CdsStore

ALGORITHMS = ("ES384", "RS384")


@dataclass(frozen=True, slots=True)
class Issuer:
    iss: str
    jwks: dict[str, Any] | None = None
    jku: tuple[str, ...] = ()


@dataclass(slots=True)
class TrustedIssuers:
    """The allow-list: issuer -> where its keys come from."""

    issuers: dict[str, Issuer]
    fetch_timeout: float = 3.0
    jwks_ttl: float = 300.0
    _cache: dict[str, tuple[float, dict[str, Any]]] = field(default_factory=dict)
    _parsed: dict[int, tuple[dict[str, Any], dict[str, PyJWK]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_file(cls, path: Path) -> TrustedIssuers:
        """Read ``[[issuer]]`` tables (TOML) or ``{"issuers": [...]}`` (JSON)."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise AuthError(f"issuers file {path}: {exc.strerror}") from exc
        try:
            data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
            raise AuthError(f"issuers file {path}: not valid: {exc}") from exc
        items = data.get("issuer") or data.get("issuers") or []
        out: dict[str, Issuer] = {}
        for i, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get("iss"), str):
                raise AuthError(f"issuers file {path}: issuer {i} needs 'iss' (text)")
            unknown = set(item) - {"iss", "jwks", "jwks_file", "jku"}
            if unknown:
                raise AuthError(f"issuers file {path}: issuer {i}: unknown keys {sorted(unknown)}")
            jwks = item.get("jwks")
            if "jwks_file" in item:
                jwks_path = path.parent / str(item["jwks_file"])
                try:
                    jwks = json.loads(jwks_path.read_text(encoding="utf-8"))
                except (OSError, json.JSONDecodeError) as exc:
                    raise AuthError(f"issuers file {path}: JWK set {jwks_path}: {exc}") from exc
            if jwks is not None and not isinstance(jwks, dict):
                raise AuthError(f"issuers file {path}: issuer {item['iss']}: jwks is not an object")
            jku = item.get("jku") or []
            jku = [jku] if isinstance(jku, str) else list(jku)
            if jwks is None and not jku:
                raise AuthError(f"issuers file {path}: issuer {item['iss']} has no keys or jku")
            out[item["iss"]] = Issuer(item["iss"], jwks, tuple(jku))
        return cls(out)

    def _keys(self, iss: str, jwks: dict[str, Any]) -> dict[str, PyJWK]:
        """The usable keys of a JWK set by kid, parsed once per set (verification is hot)."""
        cache_key = id(jwks)
        with self._lock:
            hit = self._parsed.get(cache_key)
            if hit is not None and hit[0] is jwks:
                return hit[1]
        try:
            keyset = PyJWKSet.from_dict(jwks)
        except jwt.PyJWTError as exc:
            raise AuthError(f"the JWK set of issuer {iss!r} is not usable: {exc}") from exc
        keys = {k.key_id: k for k in keyset.keys if k.key_id}
        with self._lock:
            self._parsed[cache_key] = (jwks, keys)
        return keys

    def preload(self, url: str, jwks: dict[str, Any]) -> None:
        """A JWK set for an allow-listed jku, known out of band (it is not fetched then)."""
        with self._lock:
            self._cache[url] = (float("inf"), jwks)

    def _fetch(self, url: str) -> dict[str, Any]:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(url)
            if cached and (cached[0] == float("inf") or now - cached[0] < self.jwks_ttl):
                return cached[1]
        import httpx

        try:
            response = httpx.get(url, timeout=self.fetch_timeout, follow_redirects=False)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise AuthError(f"cannot fetch the JWK set at {url}: {exc}") from exc
        if not isinstance(data, dict):
            raise AuthError(f"the JWK set at {url} is not a JSON object")
        with self._lock:
            self._cache[url] = (now, data)
        return data

    def key_for(self, iss: str, header: dict[str, Any]) -> PyJWK:
        issuer = self.issuers.get(iss)
        if issuer is None:
            raise AuthError(f"issuer {iss!r} is not on the allow-list")
        jku = header.get("jku")
        if jku is not None:
            if jku not in issuer.jku:
                raise AuthError(f"jku {jku!r} is not on the allow-list of issuer {iss!r}")
            jwks = self._fetch(jku)
        elif issuer.jwks is not None:
            jwks = issuer.jwks
        elif len(issuer.jku) == 1:
            jwks = self._fetch(issuer.jku[0])
        else:
            raise AuthError("the token names no jku and the issuer has no configured JWK set")
        kid = str(header.get("kid") or "")
        key = self._keys(iss, jwks).get(kid)
        if key is not None:
            return key
        raise AuthError(f"no key {kid!r} in the JWK set of issuer {iss!r}")


@dataclass(slots=True)
class TokenVerifier:
    trusted: TrustedIssuers
    store: CdsStore
    leeway: float = 30.0
    clock: Callable[[], float] = time.time

    def verify(self, authorization: str | None, audience: str) -> dict[str, Any]:
        """The verified claims of the ``Authorization: Bearer`` token, or AuthError."""
        if not authorization:
            raise AuthError("no Authorization header: a signed JWT (Bearer) is required")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("the Authorization header must be 'Bearer <JWT>'")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError(f"not a JWT: {exc}") from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise AuthError(f"algorithm {alg!r} is refused (allowed: {', '.join(ALGORITHMS)})")
        if header.get("typ", "JWT") != "JWT":
            raise AuthError("typ must be 'JWT'")
        if not header.get("kid"):
            raise AuthError("the JWT header has no kid")
        iss = unverified.get("iss")
        if not isinstance(iss, str):
            raise AuthError("the token has no iss")
        key = self.trusted.key_for(iss, header)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=audience,
                issuer=iss,
                options={
                    "require": ["iss", "aud", "exp", "iat", "jti"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError as exc:
            raise AuthError(f"wrong aud: the token must name {audience!r}") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(f"token refused: {exc}") from exc
        now = self.clock()
        exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf")
        for name, value in (("exp", exp), ("iat", iat), ("nbf", nbf)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise AuthError(f"{name} must be a number of seconds")
        if now > exp + self.leeway:
            raise AuthError("the token has expired")
        if iat > now + self.leeway:
            raise AuthError("the token is used before its iat")
        if nbf is not None and nbf > now + self.leeway:
            raise AuthError("the token is used before its nbf")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti:
            raise AuthError("jti must be text")
        if not self.store.use_jti(f"{iss}\x1f{jti}", float(exp) + self.leeway):
            raise AuthError("this token was already used (replayed jti)")
        return claims
