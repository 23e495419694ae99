"""Reading a CDS Hooks request: R4, and tolerantly the legacy STU3 shapes.

Accepted quirks: ``user`` for ``userId``; ``Patient/``-prefixed ids; a bare MedicationRequest
(or a list) as ``draftOrders`` instead of a Bundle; prefetch entries wrapped in
``{"response": ..., "resource": ...}`` or null; STU3 MedicationRequest shapes (``category``
as one object, ``context`` for ``encounter``, ``doseQuantity`` directly on the dosage) and
empty strings, which FHIR JSON forbids. Resources are then parsed with the R4B models of
``fhir.resources``. Every error is an :class:`InvalidInput` naming the field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from benzosafe.errors import InvalidInput

HOOKS = ("order-select", "order-sign", "patient-view")
PREFETCH_KEYS = ("patient", "medications", "conditions")


@dataclass(frozen=True, slots=True)
class FhirAuthorization:
    access_token: str
    token_type: str = "Bearer"


@dataclass(frozen=True, slots=True)
class HookRequest:
    """One CDS Hooks call, normalised."""

    hook: str
    hook_instance: str
    patient_id: str
    user_id: str | None = None
    encounter_id: str | None = None
    fhir_server: str | None = None
    fhir_authorization: FhirAuthorization | None = None
    draft_orders: tuple[dict[str, Any], ...] = ()
    selections: tuple[str, ...] = ()
    # prefetch key -> resource (unwrapped), or None when the client said "no data"
    prefetch: dict[str, dict[str, Any] | None] = field(default_factory=dict)


def _bare_id(value: Any, field_name: str, kind: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field_name, f"must be the {kind} id (text)")
    text = value.strip()
    prefix = f"{kind}/"
    if text.startswith(prefix):
        text = text[len(prefix) :]
    if not text or "/" in text:
        raise InvalidInput(field_name, f"{value!r} is not a {kind} id")
    return text


def _optional_text(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{where}.{key}", "must be text")
    return value


def strip_empty(value: Any) -> Any:
    """Drop null, "", [] and {} members (FHIR JSON forbids them; STU3 senders use them)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            cleaned = strip_empty(item)
            if cleaned is None or cleaned == "" or cleaned == [] or cleaned == {}:
                continue
            out[key] = cleaned
        return out
    if isinstance(value, list):
        items = [strip_empty(v) for v in value]
        return [v for v in items if v is not None and v != "" and v != [] and v != {}]
    return value


def unwrap(entry: Any, where: str) -> dict[str, Any] | None:
    """A prefetch value: a resource, a {"response", "resource"} wrapper, or null."""
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise InvalidInput(where, "must be a FHIR resource (JSON object) or null")
    if "resourceType" not in entry and "resource" in entry:
        return unwrap(entry["resource"], f"{where}.resource")
    if not isinstance(entry.get("resourceType"), str):
        raise InvalidInput(where, "is not a FHIR resource (no resourceType)")
    return entry


def _draft_orders(value: Any, where: str) -> tuple[dict[str, Any], ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        items: list[Any] = value
    elif isinstance(value, dict) and value.get("resourceType") == "Bundle":
        items = []
        entries = value.get("entry") or []
        if not isinstance(entries, list):
            raise InvalidInput(f"{where}.entry", "must be a list of entries")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise InvalidInput(f"{where}.entry[{i}]", "must be an object")
            items.append(entry.get("resource"))
    else:
        items = [value]
    out = []
    for i, item in enumerate(items):
        resource = unwrap(item, f"{where}[{i}]")
        if resource is not None:
            out.append(resource)
    return tuple(out)


def parse_hook_request(body: Any, hook: str) -> HookRequest:
    """Normalise a CDS Hooks request body for a service on ``hook``."""
    if not isinstance(body, dict):
        raise InvalidInput("body", "must be a JSON object")
    sent_hook = body.get("hook")
    if sent_hook != hook:
        raise InvalidInput("hook", f"{sent_hook!r} is not this service's hook", [hook])
    instance = body.get("hookInstance")
    if not isinstance(instance, str) or not instance.strip():
        raise InvalidInput("hookInstance", "is required (a UUID, text)")
    context = body.get("context")
    if not isinstance(context, dict):
        raise InvalidInput("context", "is required (a JSON object)")
    patient_id = _bare_id(context.get("patientId"), "context.patientId", "Patient")
    user = context.get("userId", context.get("user"))
    if user is not None and not isinstance(user, str):
        raise InvalidInput("context.userId", "must be text")
    encounter = context.get("encounterId")
    if encounter is not None:
        encounter = _bare_id(encounter, "context.encounterId", "Encounter")
    fhir_server = _optional_text(body, "fhirServer", "request")
    auth = body.get("fhirAuthorization")
    authorization = None
    if auth is not None:
        token = auth.get("access_token") if isinstance(auth, dict) else None
        if not isinstance(token, str) or not token:
            raise InvalidInput("fhirAuthorization.access_token", "is required (text)")
        if fhir_server is None:
            raise InvalidInput("fhirServer", "is required when fhirAuthorization is given")
        authorization = FhirAuthorization(token, str(auth.get("token_type") or "Bearer"))
    drafts: tuple[dict[str, Any], ...] = ()
    selections: tuple[str, ...] = ()
    if hook != "patient-view":
        drafts = _draft_orders(context.get("draftOrders"), "context.draftOrders")
        raw_sel = context.get("selections") or []
        if not isinstance(raw_sel, list) or not all(isinstance(s, str) for s in raw_sel):
            raise InvalidInput("context.selections", "must be a list of references (text)")
        selections = tuple(raw_sel)
    raw_prefetch = body.get("prefetch") or {}
    if not isinstance(raw_prefetch, dict):
        raise InvalidInput("prefetch", "must be a JSON object")
    prefetch = {str(key): unwrap(value, f"prefetch.{key}") for key, value in raw_prefetch.items()}
    return HookRequest(
        hook=hook,
        hook_instance=instance,
        patient_id=patient_id,
        user_id=user,
        encounter_id=encounter,
        fhir_server=fhir_server,
        fhir_authorization=authorization,
        draft_orders=drafts,
        selections=selections,
        prefetch=prefetch,
    )


def resources(value: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    """The resources in one prefetch value: itself, or a Bundle's entries (recursively)."""
    if value is None:
        return
    if value.get("resourceType") == "Bundle":
        entries = value.get("entry")
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                inner = entry.get("resource")
                if isinstance(inner, dict):
                    yield from resources(inner)
        return
    yield value


def all_resources(request: HookRequest) -> list[dict[str, Any]]:
    """Every resource in the prefetch, whatever its key (prefetch is a hint, not a schema)."""
    return [r for value in request.prefetch.values() for r in resources(value)]
