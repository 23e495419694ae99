"""What the CDS Hooks service answers, as pydantic models for its OpenAPI document.

The routes build their JSON themselves (the hot path writes bytes); these models only
describe it: the discovery document, the cards, the feedback receipt, and the FHIR
OperationOutcome every error is (:func:`benzosafe.web.cds.gate.outcome_body`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class _Open(BaseModel):
    """CDS Hooks objects: these fields, and what the specification allows beside them."""

    model_config = ConfigDict(extra="allow")


class ServiceOut(_Open):
    hook: str = Field(description="order-select, order-sign or patient-view")
    id: str
    title: str
    description: str
    prefetch: dict[str, str] = Field(description="prefetch templates by key")


class Discovery(_Open):
    services: list[ServiceOut]


class CardSource(_Open):
    label: str
    url: str | None = None
    topic: dict[str, Any] | None = Field(
        default=None, description="system urn:benzosafe:finding-code; code: the finding code"
    )


class Card(_Open):
    uuid: str
    summary: str = Field(description="under 140 characters")
    indicator: str = Field(description="info, warning or critical")
    detail: str | None = None
    source: CardSource
    overrideReasons: list[dict[str, Any]] | None = None
    suggestions: list[dict[str, Any]] | None = None
    selectionBehavior: str | None = None
    links: list[dict[str, Any]] | None = None


class Cards(_Open):
    cards: list[Card]


class FeedbackStored(BaseModel):
    stored: int = Field(description="how many feedback items were kept")


class Issue(BaseModel):
    severity: Literal["error"]
    code: str = Field(description="the FHIR issue type")
    diagnostics: str
    details: dict[str, str] = Field(description="{'text': the message}")
    expression: list[str] | None = Field(default=None, description="the field at fault")


class OperationOutcome(BaseModel):
    """Every error of the service (media type application/fhir+json)."""

    resourceType: Literal["OperationOutcome"]
    issue: list[Issue]


def outcome(description: str) -> dict[str, Any]:
    """An error response of a route: an OperationOutcome."""
    return {
        "model": OperationOutcome,
        "description": f"{description} (OperationOutcome)",
        "content": {"application/fhir+json": {"schema": {"$ref": OUTCOME_REF}}},
    }


OUTCOME_REF = "#/components/schemas/OperationOutcome"
