"""CDS Hooks prefetch: the templates a service asks for, and fetching what a call left out.

Prefetch is a hint. What a hook request lacks (the Patient, its active MedicationRequests, its
active Conditions) is read from the request's ``fhirServer`` with the bearer token of its
``fhirAuthorization``, over FHIR REST with httpx, only from an allowed server when a list of
them is given. When that is impossible (no server or token, a server not allowed, a failed or
non-resource answer) the error is a :class:`~benzosafe.errors.Precondition` naming the
prefetch key, which the CDS service answers with 412 and an OperationOutcome. A Condition
that a draft order names as its reason (``reasonReference``) and the request does not hold
is fetched too when a server is at hand; when it cannot be, the evaluation says that the
reason was not read (it is a hint, never a reason to refuse the call).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from benzosafe.errors import Precondition
from benzosafe.fhir.request import HookRequest, all_resources

if TYPE_CHECKING:
    import httpx

PREFETCH_TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
}


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


_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
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
            named = kind.rsplit("/", 1)[-1] == "Condition" and _FHIR_ID.match(ident)
            if named and ident not in have and ident not in wanted:
                wanted.append(ident)
    return wanted


async def _fetch_reasons(
    client: httpx.AsyncClient, headers: dict[str, str], ids: list[str]
) -> dict[str, Any]:
    """The reason Conditions that could be read, as a Bundle; the others are left out."""
    import httpx

    entries = []
    for ident in ids:
        try:
            response = await client.get(f"Condition/{ident}", headers=headers)
            data = response.json() if response.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            continue
        if isinstance(data, dict) and data.get("resourceType") == "Condition":
            entries.append({"resource": data})
    return {"resourceType": "Bundle", "type": "collection", "entry": entries}


def _allowed(server: str, allowed_servers: tuple[str, ...] | None) -> bool:
    return allowed_servers is None or any(
        server.rstrip("/") == base.rstrip("/") or server.startswith(base.rstrip("/") + "/")
        for base in allowed_servers
    )


async def complete_prefetch(
    hook_request: HookRequest,
    *,
    timeout_seconds: float,
    allowed_servers: tuple[str, ...] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> HookRequest:
    """The request with every missing prefetch entry fetched from its FHIR server.

    ``allowed_servers``: base URLs ``fhirServer`` must equal or lie under (None: any server
    the authenticated caller names). ``transport``: an httpx transport, to reach a FHIR
    server in tests. A missing Patient (404) is recorded as "no data", as a client may send.
    """
    missing = missing_prefetch(hook_request)
    server, auth = hook_request.fhir_server, hook_request.fhir_authorization
    if not server or auth is None:
        if not missing:
            return hook_request  # a reason not held is said by the evaluation, not refused
        raise Precondition(
            f"prefetch lacks {', '.join(missing)} and the request gives no fhirServer "
            "with fhirAuthorization to fetch it",
            f"prefetch.{missing[0]}",
        )
    if not missing and not (missing_reasons(hook_request) and _allowed(server, allowed_servers)):
        return hook_request
    if not _allowed(server, allowed_servers):
        raise Precondition(f"fhirServer {server!r} is not an allowed FHIR server", "fhirServer")
    import httpx  # only a call that must fetch pays for importing the HTTP client

    fetched = dict(hook_request.prefetch)
    headers = {
        "Authorization": f"Bearer {auth.access_token}",
        "Accept": "application/fhir+json",
    }
    async with httpx.AsyncClient(
        base_url=server.rstrip("/") + "/",
        timeout=timeout_seconds,
        transport=transport,
        follow_redirects=False,
    ) as client:
        for key in missing:
            url = PREFETCH_TEMPLATES[key].replace("{{context.patientId}}", hook_request.patient_id)
            try:
                response = await client.get(url, headers=headers)
                if response.status_code == 404 and key == "patient":
                    fetched[key] = None
                    continue
                response.raise_for_status()
                data = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise Precondition(
                    f"could not fetch {key} from the FHIR server: {exc}", f"prefetch.{key}"
                ) from exc
            if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
                raise Precondition(f"the FHIR server's {key} is not a resource", f"prefetch.{key}")
            if data["resourceType"] == "OperationOutcome":
                raise Precondition(
                    f"the FHIR server answered {key} with an error", f"prefetch.{key}"
                )
            fetched[key] = data
        reasons = missing_reasons(replace(hook_request, prefetch=fetched))
        if reasons:
            fetched[REASONS_KEY] = await _fetch_reasons(client, headers, reasons)
    return replace(hook_request, prefetch=fetched)
