"""The CDS Hooks service as a FastAPI router: discovery, the three services, feedback.

``build_cds_router(settings)`` returns an :class:`~fastapi.APIRouter` that
:func:`benzosafe.web.cds.app.create_cds_app` serves (on its own, or mounted by the clinician
web app). Every call carries the EHR's signed JWT (:mod:`benzosafe.web.cds.auth`) unless a
development mode without JWT was explicitly enabled. A call is read, its missing prefetch
fetched (:mod:`benzosafe.fhir.prefetch`; 412 with an OperationOutcome when that is
impossible), evaluated and rendered as cards by :mod:`benzosafe.fhir`. Every error is an
OperationOutcome (:mod:`.errors`), never a traceback.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from benzosafe.errors import AuthError, InvalidInput
from benzosafe.fhir.cards import evaluate, render_cards
from benzosafe.fhir.prefetch import PREFETCH_TEMPLATES, complete_prefetch
from benzosafe.fhir.request import parse_hook_request
from benzosafe.knowledge.cds import CdsKnowledge, CdsService
from benzosafe.knowledge.models import KnowledgeBase
from benzosafe.knowledge.protocol import load_active
from benzosafe.web.cds.auth import TokenVerifier, TrustedIssuers
from benzosafe.web.cds.errors import operation_outcome
from benzosafe.web.cds.settings import CdsSettings
from benzosafe.web.cds.store import CdsStore


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
        # The cited defaults, with the site protocol of BENZOSAFE_PROTOCOL laid over them.
        self.kb: KnowledgeBase = load_active()
        self.cds: CdsKnowledge = load_active().cds
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

    async def call(self, service: CdsService, body: Any) -> dict[str, Any]:
        hook_request = parse_hook_request(body, service.hook)
        hook_request = await complete_prefetch(
            hook_request,
            timeout_seconds=self.settings.fhir_timeout_seconds,
            allowed_servers=self.settings.allowed_fhir_servers,
            transport=self.settings.fhir_transport,
        )
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
