"""CDS Hooks prefetch: the templates a service asks for, and fetching what a call left out.

Prefetch is a hint. What a hook request lacks (the Patient, its active MedicationRequests, its
active Conditions) is read from the request's ``fhirServer`` with the bearer token of its
``fhirAuthorization``, over FHIR REST with httpx. The token is an EHR's secret, so it goes
only to an allow-listed server: ``fhirServer`` is normalised first (http or https, no user
info, no query, no dot segments whether percent-encoded or not, default ports made
explicit) and must lie under an allowed base by scheme, host, port and whole path segments;
a redirect is followed only to a place that passes the same test; no allow-list means no
fetching, unless the development switch ``allow_any_server`` was given. When fetching is
impossible (no server or token, a server not allowed, a failed or non-resource answer) the
error is a :class:`~benzosafe.errors.Precondition` naming the place, which the CDS service
answers with 412 and an OperationOutcome. A Condition that a draft order names as its reason
(``reasonReference``) and the request does not hold is fetched too, under the same rules,
when a server is at hand; when it cannot be, the evaluation says that the reason was not read
(it is a hint, never a reason to refuse the call).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urljoin, urlsplit

from benzosafe.errors import InvalidInput, Precondition
from benzosafe.fhir.request import HookRequest, all_resources

if TYPE_CHECKING:
    import httpx

PREFETCH_TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
}
_QUERIES = {
    "patient": ("Patient/{id}", None),
    "medications": ("MedicationRequest", "status=active"),
    "conditions": ("Condition", "clinical-status=active"),
}
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SEGMENT_SAFE = "!$&'()*+,;=:@-._~"
MAX_REDIRECTS = 3
MAX_RESPONSE_BYTES = 20_000_000


@dataclass(frozen=True, slots=True)
class FhirBase:
    """A FHIR server base URL after normalisation."""

    scheme: str
    host: str
    port: int
    segments: tuple[str, ...]  # percent-decoded path segments

    @property
    def url(self) -> str:
        path = "".join("/" + quote(s, safe=_SEGMENT_SAFE) for s in self.segments)
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if _DEFAULT_PORTS[self.scheme] == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}{path}"

    def contains(self, other: FhirBase) -> bool:
        """``other`` is this base or lies under it (whole segments, same origin)."""
        return (self.scheme, self.host, self.port) == (
            other.scheme,
            other.host,
            other.port,
        ) and other.segments[: len(self.segments)] == self.segments


def _segment(raw: str) -> str:
    """One path segment, percent-decoded until it no longer changes (so that ``%252e`` is
    seen as the ``.`` it may become); dot segments and hidden separators are refused."""
    text = raw
    for _ in range(5):
        decoded = unquote(text, errors="strict")
        if decoded == text:
            break
        text = decoded
    else:
        raise ValueError(f"path segment {raw!r} is percent-encoded too many times")
    if text in (".", ".."):
        raise ValueError("a dot segment ('.' or '..', percent-encoded or not) is not allowed")
    if "/" in text or "\\" in text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise ValueError(f"path segment {raw!r} hides a separator or control character")
    return text


def normalise_fhir_url(url: str, *, query_allowed: bool = False) -> FhirBase:
    """A FHIR URL as scheme, host, port and decoded path segments; ValueError saying why not."""
    if any(ord(c) <= 32 or ord(c) == 127 for c in url) or "\\" in url:
        raise ValueError("it holds spaces, control characters or backslashes")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("only http and https are allowed")
    if "@" in parts.netloc:
        raise ValueError("user info (user:password@) is not allowed")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host or "%" in host:
        raise ValueError("it names no usable host")
    port = parts.port or _DEFAULT_PORTS[scheme]  # ValueError for a port out of range
    if parts.fragment or (parts.query and not query_allowed):
        raise ValueError("a base URL has no query or fragment")
    raw = parts.path.split("/")[1:]
    if raw and raw[-1] == "":
        raw.pop()  # one trailing slash
    if any(s == "" for s in raw):
        raise ValueError("empty path segments ('//') are not allowed")
    return FhirBase(scheme, host, port, tuple(_segment(s) for s in raw))


def allowed_bases(urls: tuple[str, ...] | None) -> tuple[FhirBase, ...]:
    """The allow-list, normalised; an entry that cannot be normalised is an InvalidInput."""
    out = []
    for url in urls or ():
        try:
            out.append(normalise_fhir_url(url))
        except ValueError as exc:
            raise InvalidInput("allowed FHIR server", f"{url!r}: {exc}") from exc
    return tuple(out)


def missing_prefetch(hook_request: HookRequest) -> list[str]:
    """The prefetch keys whose resources the request neither prefetched nor sent otherwise."""
    found = all_resources(hook_request)
    kinds = {r.get("resourceType") for r in found}
    keys = set(hook_request.prefetch)
    ours = keys & set(PREFETCH_TEMPLATES)
    # A client that filled prefetch templates of its own (legacy keys such as item1) and
    # sent the Patient is taken at its word: what it sent is what there is.
    legacy = bool(keys) and not ours and "Patient" in kinds
    missing = []
    if "Patient" not in kinds and "patient" not in keys:
        missing.append("patient")
    if not legacy and "medications" not in keys and "MedicationRequest" not in kinds:
        missing.append("medications")
    if not legacy and "conditions" not in keys and "Condition" not in kinds:
        missing.append("conditions")
    return missing


def _server(
    server: str, allowed: tuple[FhirBase, ...], allow_any_server: bool
) -> tuple[FhirBase, tuple[FhirBase, ...]]:
    """The normalised fhirServer and the bases a redirect may go to, or Precondition."""
    try:
        base = normalise_fhir_url(server)
    except ValueError as exc:
        raise Precondition(f"fhirServer {server!r} is not usable: {exc}", "fhirServer") from exc
    if allow_any_server:
        return base, (base,)  # development: any server, but redirects stay under it
    if not allowed:
        raise Precondition(
            "no FHIR server is allowed (no allow-list is configured), so missing prefetch "
            "cannot be fetched: send it as prefetch",
            "fhirServer",
        )
    if not any(a.contains(base) for a in allowed):
        raise Precondition(f"fhirServer {server!r} is not an allowed FHIR server", "fhirServer")
    return base, allowed


async def _get(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    bounds: tuple[FhirBase, ...],
    key: str,
) -> tuple[int, Any]:
    """GET, following a redirect only to an allowed place; the status and parsed JSON."""
    import json

    for _ in range(MAX_REDIRECTS + 1):
        async with client.stream("GET", url, headers=headers) as response:
            if response.is_redirect:
                target = urljoin(url, response.headers.get("location", ""))
                try:
                    inside = any(
                        b.contains(normalise_fhir_url(target, query_allowed=True)) for b in bounds
                    )
                except ValueError:
                    inside = False
                if not inside:
                    raise Precondition(
                        f"the FHIR server redirected {key} off the allowed servers; "
                        "not followed, the token was not sent there",
                        f"prefetch.{key}",
                    )
                url = target
                continue
            if response.status_code == 404 and key == "patient":
                return 404, None
            response.raise_for_status()
            body = b""
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_RESPONSE_BYTES:
                    raise ValueError(f"the answer is over {MAX_RESPONSE_BYTES} bytes")
            return response.status_code, json.loads(body)
    raise Precondition(f"the FHIR server redirected {key} too many times", f"prefetch.{key}")


REASONS_KEY = "reasonReference-conditions"  # the prefetch key of fetched reason Conditions


def missing_reasons(hook_request: HookRequest) -> list[str]:
    """The ids of Conditions that draft orders name in ``reasonReference`` and the request
    does not hold (contained ones are in the order itself)."""
    have = {
        r.get("id") for r in all_resources(hook_request) if r.get("resourceType") == "Condition"
    }
    wanted: list[str] = []
    for draft in hook_request.draft_orders:
        refs = draft.get("reasonReference")
        for ref in refs if isinstance(refs, list) else []:
            reference = ref.get("reference") if isinstance(ref, dict) else None
            if not isinstance(reference, str) or reference.startswith("#"):
                continue
            kind, _, ident = reference.rpartition("/")
            named = kind.rsplit("/", 1)[-1] == "Condition" and _FHIR_ID.fullmatch(ident)
            if named and ident not in (".", "..") and ident not in have and ident not in wanted:
                wanted.append(ident)
    return wanted


async def _fetch_reasons(
    client: httpx.AsyncClient,
    base: FhirBase,
    headers: dict[str, str],
    bounds: tuple[FhirBase, ...],
    ids: list[str],
) -> dict[str, Any]:
    """The reason Conditions that could be read, as a Bundle; the others are left out."""
    import httpx

    entries = []
    for ident in ids:
        try:
            status, data = await _get(client, f"{base.url}/Condition/{ident}", headers, bounds, "")
        except (httpx.HTTPError, ValueError, Precondition):
            continue
        if status == 200 and isinstance(data, dict) and data.get("resourceType") == "Condition":
            entries.append({"resource": data})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


async def complete_prefetch(
    hook_request: HookRequest,
    *,
    timeout_seconds: float,
    allowed_servers: tuple[str, ...] | None = None,
    allow_any_server: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> HookRequest:
    """The request with every missing prefetch entry fetched from its FHIR server.

    ``allowed_servers``: base URLs ``fhirServer`` must equal or lie under (None or empty:
    nothing is fetched, unless ``allow_any_server``, for development, is set).
    ``transport``: an httpx transport, to reach a FHIR server in tests. A missing Patient
    (404) is recorded as "no data", as a client may send.
    """
    missing = missing_prefetch(hook_request)
    if not missing and not missing_reasons(hook_request):
        return hook_request
    server, auth = hook_request.fhir_server, hook_request.fhir_authorization
    if not server or auth is None:
        if not missing:
            return hook_request  # a reason not held is said by the evaluation, not refused
        raise Precondition(
            f"prefetch lacks {', '.join(missing)} and the request gives no fhirServer "
            "with fhirAuthorization to fetch it",
            f"prefetch.{missing[0]}",
        )
    try:
        base, bounds = _server(server, allowed_bases(allowed_servers), allow_any_server)
    except Precondition:
        if not missing:
            return hook_request
        raise
    patient = hook_request.patient_id
    if missing and (not _FHIR_ID.fullmatch(patient) or patient in (".", "..")):
        raise Precondition(
            f"context.patientId {patient!r} is not a FHIR id, so it cannot be fetched",
            "context.patientId",
        )
    import httpx  # only a call that must fetch pays for importing the HTTP client

    fetched = dict(hook_request.prefetch)
    headers = {
        "Authorization": f"Bearer {auth.access_token}",
        "Accept": "application/fhir+json",
    }
    async with httpx.AsyncClient(
        timeout=timeout_seconds, transport=transport, follow_redirects=False
    ) as client:
        for key in missing:
            path, query = _QUERIES[key]
            url = f"{base.url}/{path.format(id=patient)}"
            if query is not None:
                url += f"?patient={patient}&{query}"
            try:
                status, data = await _get(client, url, headers, bounds, key)
            except (httpx.HTTPError, ValueError) as exc:
                raise Precondition(
                    f"could not fetch {key} from the FHIR server: {exc}", f"prefetch.{key}"
                ) from exc
            if status == 404:
                fetched[key] = None
                continue
            if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
                raise Precondition(f"the FHIR server's {key} is not a resource", f"prefetch.{key}")
            if data["resourceType"] == "OperationOutcome":
                raise Precondition(
                    f"the FHIR server answered {key} with an error", f"prefetch.{key}"
                )
            fetched[key] = data
        reasons = missing_reasons(replace(hook_request, prefetch=fetched))
        if reasons:
            fetched[REASONS_KEY] = await _fetch_reasons(client, base, headers, bounds, reasons)
    return replace(hook_request, prefetch=fetched)
