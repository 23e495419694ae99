"""The CDS Hooks service as a FastAPI router: discovery, the three services, feedback.

``build_cds_router(settings)`` returns an :class:`~fastapi.APIRouter` that the clinician web
app mounts, and that :func:`benzosafe.web.cds_app.create_cds_app` serves on its own. Every
call carries the EHR's signed JWT (:mod:`benzosafe.web.cds_auth`) unless a development mode
without JWT was explicitly enabled. Prefetch is a hint: what is missing is fetched from
``fhirServer`` with ``fhirAuthorization``; when that is impossible the answer is 412 with an
OperationOutcome. Every error is an OperationOutcome, never a traceback.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from benzosafe.errors import AuthError, BenzosafeError, InvalidInput, Precondition
from benzosafe.fhir.cards import evaluate, render_cards
from benzosafe.fhir.request import HookRequest, all_resources, parse_hook_request
from benzosafe.knowledge import load
from benzosafe.knowledge.cds import CdsKnowledge, CdsService
from benzosafe.knowledge.models import KnowledgeBase
from benzosafe.web.cds_auth import TokenVerifier, TrustedIssuers
from benzosafe.web.cds_store import CdsStore

log = logging.getLogger("benzosafe.cds")

PREFETCH_TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
}


@dataclass(slots=True)
class CdsSettings:
    """How the CDS Hooks service runs. Without issuers it refuses every call, unless
    ``allow_unauthenticated`` (development only) was set explicitly."""

    public_url: str | None = None
    issuers_file: Path | None = None
    trusted: TrustedIssuers | None = None
    allow_unauthenticated: bool = False
    state_path: str = ":memory:"
    app_url: str | None = None
    fhir_timeout_seconds: float = 5.0
    shown_ttl_seconds: float = 24 * 3600
    leeway_seconds: float = 30.0
    clock: Any = field(default=time.time)
    # Base URLs of the FHIR servers this service may fetch from (fhirServer must start with
    # one); None: any server the caller names (the caller is authenticated by its JWT).
    allowed_fhir_servers: tuple[str, ...] | None = None
    fhir_transport: Any = None  # an httpx transport, to reach a FHIR server in tests


def operation_outcome(
    status: int, code: str, message: str, expression: str | None = None
) -> JSONResponse:
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": message}
    issue["details"] = {"text": message}
    if expression:
        issue["expression"] = [expression]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(
        {"resourceType": "OperationOutcome", "issue": [issue]},
        status_code=status,
        media_type="application/fhir+json",
        headers=headers,
    )


class _Coding(BaseModel):
    model_config = ConfigDict(extra="allow")
    code: str = Field(min_length=1)
    system: str = Field(min_length=1)
    display: str | None = None


class _OverrideReason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: _Coding | None = None
    userComment: str | None = None


class _Accepted(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(min_length=1)


class FeedbackItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    outcomeTimestamp: datetime
    acceptedSuggestions: list[_Accepted] | None = None
    overrideReason: _OverrideReason | None = None


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    feedback: list[FeedbackItem] = Field(min_length=1, max_length=1000)


_HOOK_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["hook", "hookInstance", "context"],
    "properties": {
        "hook": {"type": "string"},
        "hookInstance": {"type": "string"},
        "fhirServer": {"type": "string"},
        "fhirAuthorization": {"type": "object"},
        "context": {
            "type": "object",
            "properties": {
                "userId": {"type": "string"},
                "patientId": {"type": "string"},
                "encounterId": {"type": "string"},
                "draftOrders": {"type": "object"},
                "selections": {"type": "array", "items": {"type": "string"}},
            },
        },
        "prefetch": {"type": "object"},
    },
}


class _Service:
    def __init__(self, settings: CdsSettings) -> None:
        self.settings = settings
        self.kb: KnowledgeBase = load()
        self.cds: CdsKnowledge = load().cds
        self.store = CdsStore(settings.state_path)
        trusted = settings.trusted
        if trusted is None and settings.issuers_file is not None:
            trusted = TrustedIssuers.from_file(settings.issuers_file)
        if trusted is None and not settings.allow_unauthenticated:
            raise AuthError(
                "no trusted issuers are configured: give an issuers file, or enable the "
                "development mode without JWT explicitly"
            )
        if trusted is not None and not settings.public_url:
            raise AuthError(
                "public_url is required with JWT: the token's aud must be the URL the EHR "
                "called, which the Host header alone cannot be trusted to say"
            )
        self.verifier = (
            TokenVerifier(trusted, self.store, settings.leeway_seconds, settings.clock)
            if trusted is not None
            else None
        )

    def audience(self, request: Request) -> str:
        return (self.settings.public_url or "").rstrip("/") + request.url.path

    def authenticate(self, request: Request) -> None:
        if self.verifier is None:
            return  # development mode without JWT, explicitly enabled
        self.verifier.verify(request.headers.get("authorization"), self.audience(request))

    def today(self) -> date:
        return datetime.fromtimestamp(self.settings.clock(), tz=UTC).date()

    def discovery(self) -> dict[str, Any]:
        services = []
        for svc in self.cds.services:
            services.append(
                {
                    "hook": svc.hook,
                    "id": svc.id,
                    "title": svc.title,
                    "description": svc.description,
                    "prefetch": dict(PREFETCH_TEMPLATES),
                    "usageRequirements": "Needs the patient, active MedicationRequests and "
                    "active Conditions (prefetched, or fetched with fhirAuthorization).",
                }
            )
        return {"services": services}

    async def complete_prefetch(self, hook_request: HookRequest) -> HookRequest:
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
        if not missing:
            return hook_request
        server, auth = hook_request.fhir_server, hook_request.fhir_authorization
        if not server or auth is None:
            raise Precondition(
                f"prefetch lacks {', '.join(missing)} and the request gives no fhirServer "
                "with fhirAuthorization to fetch it",
                f"prefetch.{missing[0]}",
            )
        allowed = self.settings.allowed_fhir_servers
        if allowed is not None and not any(
            server.rstrip("/") == base.rstrip("/") or server.startswith(base.rstrip("/") + "/")
            for base in allowed
        ):
            raise Precondition(f"fhirServer {server!r} is not an allowed FHIR server", "fhirServer")
        import httpx

        fetched = dict(hook_request.prefetch)
        headers = {
            "Authorization": f"Bearer {auth.access_token}",
            "Accept": "application/fhir+json",
        }
        async with httpx.AsyncClient(
            base_url=server.rstrip("/") + "/",
            timeout=self.settings.fhir_timeout_seconds,
            transport=self.settings.fhir_transport,
            follow_redirects=False,
        ) as client:
            for key in missing:
                url = PREFETCH_TEMPLATES[key].replace(
                    "{{context.patientId}}", hook_request.patient_id
                )
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
                    raise Precondition(
                        f"the FHIR server's {key} is not a resource", f"prefetch.{key}"
                    )
                if data["resourceType"] == "OperationOutcome":
                    raise Precondition(
                        f"the FHIR server answered {key} with an error", f"prefetch.{key}"
                    )
                fetched[key] = data
        return replace(hook_request, prefetch=fetched)

    async def call(self, service: CdsService, body: Any) -> dict[str, Any]:
        hook_request = parse_hook_request(body, service.hook)
        hook_request = await self.complete_prefetch(hook_request)
        evaluation, _patient, _drafts = evaluate(
            self.kb, self.cds, service, hook_request, self.today()
        )
        cards = render_cards(self.kb, self.cds, hook_request, evaluation, self.settings.app_url)
        if service.hook == "order-sign":
            shown = self.store.already_shown(c.key for c in cards)
            cards = [c for c in cards if c.key not in shown]
        elif service.hook == "order-select" and cards:
            self.store.remember_shown((c.key for c in cards), self.settings.shown_ttl_seconds)
        return {"cards": [c.body for c in cards]}


def build_cds_router(settings: CdsSettings) -> APIRouter:
    """The CDS Hooks endpoints; mount with ``app.include_router(router)`` (and install
    :func:`install_error_handlers` so that errors are OperationOutcomes)."""
    service = _Service(settings)

    async def authenticate(request: Request) -> None:
        # A dependency, so that an untrusted caller gets 401 before its body is even read.
        service.authenticate(request)

    router = APIRouter(tags=["CDS Hooks"], dependencies=[Depends(authenticate)])

    @router.get("/cds-services", summary="CDS Hooks discovery")
    async def discovery() -> JSONResponse:
        return JSONResponse(service.discovery())

    @router.post(
        "/cds-services/{service_id}",
        summary="Call a CDS service",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _HOOK_REQUEST_SCHEMA}},
            }
        },
        responses={
            200: {"description": "Cards"},
            400: {"description": "Invalid request (OperationOutcome)"},
            401: {"description": "Untrusted client (OperationOutcome)"},
            404: {"description": "No such service (OperationOutcome)"},
            412: {"description": "FHIR data unavailable (OperationOutcome)"},
        },
    )
    async def call(service_id: str, request: Request) -> JSONResponse:
        svc = service.cds.service(service_id)
        if svc is None:
            return operation_outcome(404, "not-found", f"no CDS service {service_id!r}")
        body = await _json(request)
        return JSONResponse(await service.call(svc, body))

    @router.post(
        "/cds-services/{service_id}/feedback",
        summary="Feedback on cards",
        responses={
            200: {"description": "Stored"},
            400: {"description": "Invalid feedback (OperationOutcome)"},
            401: {"description": "Untrusted client (OperationOutcome)"},
            404: {"description": "No such service (OperationOutcome)"},
        },
    )
    async def feedback(service_id: str, payload: FeedbackRequest) -> JSONResponse:
        if service.cds.service(service_id) is None:
            return operation_outcome(404, "not-found", f"no CDS service {service_id!r}")
        items = [item.model_dump(mode="json", exclude_none=True) for item in payload.feedback]
        for i, item in enumerate(items):
            if item["outcome"] == "accepted" and not item.get("acceptedSuggestions"):
                raise InvalidInput(
                    f"feedback[{i}].acceptedSuggestions", "is required for an accepted outcome"
                )
        stored = service.store.add_feedback(service_id, items)
        return JSONResponse({"stored": stored})

    router.cds_store = service.store  # type: ignore[attr-defined]
    return router


async def _json(request: Request) -> Any:
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput("body", f"not valid JSON: {exc}") from exc


def install_error_handlers(app: FastAPI) -> None:
    """Every error of the CDS Hooks endpoints as an OperationOutcome, never a traceback."""

    @app.exception_handler(BenzosafeError)
    async def _benzosafe(_: Request, exc: BenzosafeError) -> JSONResponse:
        # CDS Hooks answers a request the client must fix with 400, where the web API says 422.
        status = 400 if exc.status == 422 else exc.status
        return operation_outcome(status, exc.issue_type, str(exc), exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return operation_outcome(400, "invalid", f"{where}: {first.get('msg', 'invalid')}", where)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error in a CDS Hooks call")
        return operation_outcome(500, "exception", "internal error; the request changed nothing")
