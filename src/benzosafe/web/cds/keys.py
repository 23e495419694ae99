"""The EHRs' public keys: which issuers are trusted, and their JWK sets, fetched and cached.

An issuer is allow-listed with its JWK set (a file or an inline set) or the ``jku`` URLs it
may name. A ``jku`` set is fetched without blocking the event loop (httpx, async, with a
timeout, no redirects, a size cap), concurrent callers of one URL share one fetch, and what
is learnt is cached: the usable keys by issuer and ``kid`` (parsed once into the objects that
verify signatures) for ``jwks_ttl`` seconds, a failed fetch for ``failure_ttl`` seconds (so
that a down host is not asked again on every call), and an unknown ``kid`` triggers at most
one refetch per ``refetch_interval`` seconds per URL (so key rotation works and a flood of
made-up ``kid``\\ s does not hammer the host). Every refusal is an
:class:`~benzosafe.errors.AuthError` saying why.
"""

from __future__ import annotations

import asyncio
import json
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jwt import PyJWK, PyJWKSet, PyJWTError

from benzosafe.errors import AuthError

MAX_JWKS_BYTES = 256 * 1024  # a JWK set is a few keys; more is not a key set


@dataclass(frozen=True, slots=True)
class Issuer:
    iss: str
    jwks: dict[str, Any] | None = None
    jku: tuple[str, ...] = ()


@dataclass(slots=True)
class _Fetched:
    """What one jku URL gave: its keys by kid, or why it failed, and until when it holds."""

    keys: dict[str, PyJWK]
    error: str | None
    fetched_at: float
    until: float


def usable_keys(jwks: Any, where: str) -> dict[str, PyJWK]:
    """The keys of a JWK set by kid, parsed once; a set that cannot be parsed is refused."""
    if not isinstance(jwks, dict):
        raise AuthError(f"the JWK set of {where} is not a JSON object")
    try:
        keyset = PyJWKSet.from_dict(jwks)
    except (PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise AuthError(f"the JWK set of {where} is not usable: {exc}") from exc
    return {k.key_id: k for k in keyset.keys if k.key_id}


@dataclass(slots=True)
class TrustedIssuers:
    """The allow-list (issuer -> where its keys come from) and the key cache of one worker."""

    issuers: dict[str, Issuer]
    fetch_timeout: float = 3.0
    jwks_ttl: float = 300.0
    failure_ttl: float = 30.0
    refetch_interval: float = 60.0
    clock: Callable[[], float] = time.monotonic
    transport: Any = None  # an httpx async transport, for tests that must reach a jku host
    _static: dict[str, dict[str, PyJWK]] = field(default_factory=dict)
    _fetched: dict[str, _Fetched] = field(default_factory=dict)
    _pending: dict[str, asyncio.Future[_Fetched]] = field(default_factory=dict)
    fetches: int = 0  # how many times a jku host was asked (for tests and operators)

    def __post_init__(self) -> None:
        for iss, issuer in self.issuers.items():
            if issuer.jwks is not None:
                self._static[iss] = usable_keys(issuer.jwks, f"issuer {iss!r}")

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

    def preload(self, url: str, jwks: dict[str, Any]) -> None:
        """A JWK set for an allow-listed jku, known out of band (it is never fetched then)."""
        now = self.clock()
        self._fetched[url] = _Fetched(usable_keys(jwks, url), None, now, float("inf"))

    async def _fetch(self, url: str) -> _Fetched:
        """Ask the jku host once; every outcome is cached (keys for the TTL, a failure briefly)."""
        import httpx

        self.fetches += 1
        try:
            async with (
                httpx.AsyncClient(
                    timeout=self.fetch_timeout, follow_redirects=False, transport=self.transport
                ) as client,
                client.stream("GET", url, headers={"Accept": "application/json"}) as r,
            ):
                if r.status_code != 200:
                    raise AuthError(f"the jku host answered {r.status_code}")
                body = b""
                async for chunk in r.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise AuthError(f"the JWK set is over {MAX_JWKS_BYTES} bytes")
            keys = usable_keys(json.loads(body), url)
        except (httpx.HTTPError, ValueError, AuthError) as exc:
            reason = f"cannot fetch the JWK set at {url}: {exc or type(exc).__name__}"
            done = self.clock()
            return _Fetched({}, reason, done, done + self.failure_ttl)
        done = self.clock()  # intervals count from when the answer came
        return _Fetched(keys, None, done, done + self.jwks_ttl)

    async def _keys_at(self, url: str, kid: str) -> _Fetched:
        now = self.clock()
        cached = self._fetched.get(url)
        if cached is not None and now < cached.until:
            if cached.error is not None or kid in cached.keys:
                return cached
            if now - cached.fetched_at < self.refetch_interval:
                return cached  # an unknown kid, asked again too soon: no new fetch
        pending = self._pending.get(url)
        if pending is None:
            # One fetch per URL at a time; everyone waiting shares its outcome.
            pending = asyncio.get_running_loop().create_future()
            self._pending[url] = pending
            try:
                result = await self._fetch(url)
                self._fetched[url] = result
                pending.set_result(result)
            except BaseException as exc:
                pending.set_exception(exc)
                pending.exception()  # retrieved: a cancelled fetch must not be logged as lost
                raise
            finally:
                del self._pending[url]
            return result
        return await asyncio.shield(pending)

    async def key_for(self, iss: str, header: dict[str, Any]) -> PyJWK:
        """The key that must have signed a token of ``iss`` with this header."""
        issuer = self.issuers.get(iss)
        if issuer is None:
            raise AuthError(f"issuer {iss!r} is not on the allow-list")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("the JWT header has no kid (text)")
        jku = header.get("jku")
        if jku is not None:
            if not isinstance(jku, str) or jku not in issuer.jku:
                raise AuthError(f"jku {jku!r} is not on the allow-list of issuer {iss!r}")
            url = jku
        elif iss in self._static:
            key = self._static[iss].get(kid)
            if key is None:
                raise AuthError(f"no key {kid!r} in the JWK set of issuer {iss!r}")
            return key
        elif len(issuer.jku) == 1:
            url = issuer.jku[0]
        else:
            raise AuthError("the token names no jku and the issuer has no configured JWK set")
        fetched = await self._keys_at(url, kid)
        if fetched.error is not None:
            raise AuthError(fetched.error)
        key = fetched.keys.get(kid)
        if key is None:
            raise AuthError(f"no key {kid!r} in the JWK set at {url}")
        return key
