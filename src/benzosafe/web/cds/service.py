"""The CDS Hooks service as a FastAPI router: discovery, the three services, feedback.

``build_cds_router(settings)`` returns an :class:`~fastapi.APIRouter` (and the
:class:`CdsService` behind it) that :func:`benzosafe.web.cds.app.create_cds_app` serves, on
its own or mounted by the clinician web app. Every call carries the EHR's signed JWT
(:mod:`.auth`), checked by the gate (:mod:`.gate`) before the body is read, unless a
development mode without JWT was explicitly enabled; the caller's issuer is its tenant. A
call is read, its missing prefetch fetched (:mod:`benzosafe.fhir.prefetch`; 412 with an
OperationOutcome when that is impossible), evaluated and rendered as cards by
:mod:`benzosafe.fhir`. A finding shown at order-select is not shown again at order-sign to
the same issuer for the same patient and draft; the uuid of every card sent is recorded
with its issuer, and feedback is taken only on those. Every error is an OperationOutcome
(:mod:`.errors`), never a traceback.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from benzosafe.errors import AuthError, InvalidInput
from benzosafe.fhir.cards import evaluate, render_cards
from benzosafe.fhir.prefetch import PREFETCH_TEMPLATES, allowed_bases, complete_prefetch
from benzosafe.fhir.request import parse_hook_request
from benzosafe.knowledge.cds import CdsKnowledge
from benzosafe.knowledge.cds import CdsService as HookService
from benzosafe.knowledge.models import KnowledgeBase
from benzosafe.knowledge.protocol import load_active
from benzosafe.web.cds.auth import TokenVerifier, TrustedIssuers
from benzosafe.web.cds.errors import operation_outcome
from benzosafe.web.cds.gate import SCOPE_KEY, outcome_body
from benzosafe.web.cds.schemas import Cards, Discovery, FeedbackStored, outcome
from benzosafe.web.cds.settings import CdsSettings
from benzosafe.web.cds.store import CdsStore, open_store

DEVELOPMENT_ISSUER = ""  # the tenant of calls in the development mode without JWT


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


class CdsService:
    """The service behind the endpoints: knowledge, state, trust, and the calls themselves."""

    def __init__(self, settings: CdsSettings) -> None:
        self.settings = settings
        # The cited defaults, with the site protocol of BENZOSAFE_PROTOCOL laid over them.
        knowledge = load_active()
        self.kb: KnowledgeBase = knowledge
        self.cds: CdsKnowledge = knowledge.cds
        self.max_body_bytes = settings.max_body_bytes
        if settings.max_body_bytes < 1:
            raise InvalidInput("max_body_bytes", "must be 1 or more")
        allowed_bases(settings.allowed_fhir_servers)  # a broken allow-list fails at start
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
        self.store: CdsStore = open_store(settings.state)
        self.verifier = (
            TokenVerifier(
                trusted,
                self.store,
                settings.leeway_seconds,
                settings.clock,
                settings.max_token_lifetime_seconds,
            )
            if trusted is not None
            else None
        )
        self._discovery = orjson.dumps(self._discovery_document())

    async def authenticate(self, authorization: str | None, path: str) -> str:
        """The issuer (tenant) of a call; AuthError when its token is not accepted."""
        if self.verifier is None:
            return DEVELOPMENT_ISSUER  # development mode without JWT, explicitly enabled
        audience = (self.settings.public_url or "").rstrip("/") + path
        claims = await self.verifier.verify(authorization, audience)
        return str(claims["iss"])

    def today(self) -> date:
        return datetime.fromtimestamp(self.settings.clock(), tz=UTC).date()

    def _discovery_document(self) -> dict[str, Any]:
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

    def discovery(self) -> bytes:
        return self._discovery

    async def hook_response(self, service_id: str, raw: bytes, issuer: str) -> tuple[int, bytes]:
        """Status and JSON of the answer to a call of a service (cards, or a 404 outcome);
        a request the client must fix raises its :class:`~benzosafe.errors.BenzosafeError`."""
        svc = self.cds.service(service_id)
        if svc is None:
            return 404, outcome_body(404, "not-found", f"no CDS service {service_id!r}")
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidInput("body", f"not valid JSON: {exc}") from exc
        return 200, orjson.dumps(await self.call(svc, body, issuer))

    async def call(self, service: HookService, body: Any, issuer: str) -> dict[str, Any]:
        settings = self.settings
        hook_request = parse_hook_request(body, service.hook)
        hook_request = await complete_prefetch(
            hook_request,
            timeout_seconds=settings.fhir_timeout_seconds,
            allowed_servers=settings.allowed_fhir_servers,
            allow_any_server=settings.allow_any_fhir_server,
            transport=settings.fhir_transport,
        )
        evaluation, _patient, _drafts = evaluate(
            self.kb, self.cds, service, hook_request, self.today()
        )
        cards = render_cards(self.kb, self.cds, hook_request, evaluation, settings.app_url)
        # "Shown" is per tenant: one EHR's order-select never hides another EHR's warning.
        keys = {c.key: shown_key(issuer, c.key) for c in cards}
        shown: list[str] = []
        if service.hook == "order-sign" and cards:
            already = await self.store.already_shown(list(keys.values()))
            cards = [c for c in cards if keys[c.key] not in already]
        elif service.hook == "order-select":
            shown = [keys[c.key] for c in cards]
        await self.store.remember(
            shown,
            settings.shown_ttl_seconds,
            issuer,
            [c.body["uuid"] for c in cards],
            settings.issued_ttl_seconds,
        )
        return {"cards": [c.body for c in cards]}

    async def feedback(self, service_id: str, items: list[dict[str, Any]], issuer: str) -> int:
        for i, item in enumerate(items):
            if item["outcome"] == "accepted" and not item.get("acceptedSuggestions"):
                raise InvalidInput(
                    f"feedback[{i}].acceptedSuggestions", "is required for an accepted outcome"
                )
        cards = list(dict.fromkeys(item["card"] for item in items))
        issued = await self.store.issued(issuer, cards)
        for i, item in enumerate(items):
            if item["card"] not in issued:
                raise InvalidInput(
                    f"feedback[{i}].card",
                    f"{item['card']!r} is not a card this service sent to this client "
                    "(or it is too old for feedback); nothing was stored",
                )
        return await self.store.add_feedback(issuer, service_id, items)


def shown_key(issuer: str, card_key: str) -> str:
    """The store key of "this finding, for this draft and patient, shown to this issuer"."""
    return hashlib.sha256(f"{issuer}\x1f{card_key}".encode()).hexdigest()


def _json(data: Any) -> Response:
    return Response(orjson.dumps(data), media_type="application/json")


def _gated(request: Request) -> dict[str, Any]:
    gated: dict[str, Any] | None = request.scope.get(SCOPE_KEY)
    if gated is None:  # the router served without its gate would be unauthenticated
        raise AuthError("the CDS Hooks gate did not run: the call cannot be authenticated")
    return gated


def build_cds_router(settings: CdsSettings) -> tuple[APIRouter, CdsService]:
    """The CDS Hooks endpoints and the service behind them. Serve them behind
    :class:`~benzosafe.web.cds.gate.CdsGate` (which authenticates) with
    :func:`~benzosafe.web.cds.errors.install_error_handlers`, as ``create_cds_app`` does."""
    service = CdsService(settings)
    router = APIRouter(tags=["CDS Hooks"])

    @router.get(
        "/cds-services",
        summary="CDS Hooks discovery",
        responses={
            200: {"model": Discovery, "description": "The services"},
            401: outcome("Untrusted client"),
            500: outcome("Server error"),
        },
    )
    async def discovery(request: Request) -> Response:
        _gated(request)
        return Response(service.discovery(), media_type="application/json")

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
            200: {"model": Cards, "description": "Cards"},
            400: outcome("Invalid request"),
            401: outcome("Untrusted client"),
            404: outcome("No such service"),
            412: outcome("FHIR data unavailable"),
            413: outcome("Body over the size limit"),
            500: outcome("Server error"),
            503: outcome("State store unavailable"),
            "4XX": outcome("Any other client error"),
        },
    )
    async def call(service_id: str, request: Request) -> Response:
        # The gate answers these calls itself (the hot path); this route describes them in
        # the OpenAPI document and answers them wherever the gate hands a call on.
        gated = _gated(request)
        status, data = await service.hook_response(service_id, gated["body"], gated["issuer"])
        media = "application/json" if status == 200 else "application/fhir+json"
        return Response(data, status_code=status, media_type=media)

    @router.post(
        "/cds-services/{service_id}/feedback",
        summary="Feedback on cards",
        responses={
            200: {"model": FeedbackStored, "description": "Stored"},
            400: outcome("Invalid feedback, or a card not sent to this client"),
            401: outcome("Untrusted client"),
            404: outcome("No such service"),
            413: outcome("Body over the size limit"),
            500: outcome("Server error"),
            503: outcome("State store unavailable"),
            "4XX": outcome("Any other client error"),
        },
    )
    async def feedback(service_id: str, payload: FeedbackRequest, request: Request) -> Response:
        gated = _gated(request)
        if service.cds.service(service_id) is None:
            return operation_outcome(404, "not-found", f"no CDS service {service_id!r}")
        items = [item.model_dump(mode="json", exclude_none=True) for item in payload.feedback]
        stored = await service.feedback(service_id, items, gated["issuer"])
        return _json({"stored": stored})

    return router, service
