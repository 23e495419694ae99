"""What the JSON API answers, as pydantic models: the OpenAPI document's response schemas.

The routes of :mod:`.api` declare these with ``**declares(Model)``, which documents the
answer without passing it through the model, so the JSON stays exactly what the route
builds. Every route of the router also declares the error shape of :mod:`.errors`
(:data:`ERRORS`). Clinical payloads (a check report, a taper plan, a score) are the public
contracts of the core; their main fields are typed here and the rest allowed as they come.
Request bodies derive from :class:`Strict`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from benzosafe.store.limits import INTEGER_MAX, max_length


class Out(BaseModel):
    """An answer with exactly these fields."""

    model_config = ConfigDict(extra="forbid")


class Strict(BaseModel):
    """A request body with exactly these fields (another is a 422)."""

    model_config = ConfigDict(extra="forbid")


def limited(column: Any, **kw: Any) -> Any:
    """A text field of a request no longer than ``column`` of the model holds (the model is
    the one source of the limits: :mod:`benzosafe.store.limits`)."""
    return Field(max_length=max_length(column), **kw)


def positive(**kw: Any) -> Any:
    """A positive whole number an ``Integer`` column (32-bit on PostgreSQL) holds."""
    return Field(ge=1, le=INTEGER_MAX, **kw)


class Open(BaseModel):
    """A clinical payload: these fields, and others the core adds, as they come."""

    model_config = ConfigDict(extra="allow")


# ----------------------------------------------------------------------------- errors


class ErrorDetail(Out):
    status: int = Field(description="the HTTP status")
    code: str = Field(
        description="not-signed-in, sign-in-refused, csrf, forbidden, not-found, "
        "method-not-allowed, conflict, invalid-input, plan-infeasible or server-error"
    )
    message: str
    field: str | None = Field(description="the input field at fault, when there is one")
    allowed: list[Any] = Field(description="the allowed values of that field, when known")


class ErrorBody(Out):
    """Every error of every route has this one shape."""

    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Not signed in, or the sign-in was refused"},
    403: {"model": ErrorBody, "description": "No CSRF token, or the role may not do this"},
    404: {"model": ErrorBody, "description": "No such record"},
    409: {"model": ErrorBody, "description": "A conflicting change (e.g. a stale version)"},
    422: {"model": ErrorBody, "description": "Invalid input; `field` names it"},
    500: {"model": ErrorBody, "description": "Server error; the request changed nothing"},
}


def ok(model: type[BaseModel], status: int = 200) -> dict[int | str, dict[str, Any]]:
    """The success response of a route, documented as ``model``."""
    return {status: {"model": model, "description": "Success"}}


def declares(model: type[BaseModel], status: int = 200) -> dict[str, Any]:
    """A route's keywords: its answer documented as ``model`` (not re-serialised by it)."""
    return {"response_model": None, "responses": ok(model, status)}


class JSONRoute(APIRoute):
    """A route whose plain ``dict`` or ``list`` answer is written with one ``json.dumps``.

    The routes build JSON-ready values already; FastAPI's generic encoder would walk them
    value by value again (milliseconds for a patient's chart). An answer that is not plain
    JSON (or a route's own ``Response``) goes FastAPI's usual way.
    """

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        status = kwargs.get("status_code") or 200

        @functools.wraps(endpoint)
        def answer(*args: Any, **kw: Any) -> Any:
            result = endpoint(*args, **kw)
            if isinstance(result, dict | list):
                try:
                    return JSONResponse(result, status_code=status)
                except (TypeError, ValueError):
                    return result
            return result

        if inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{path}: JSONRoute takes plain (def) endpoints")
        super().__init__(path, answer, **kwargs)


# ----------------------------------------------------------------------------- records


class UserOut(Out):
    id: int
    username: str
    display_name: str
    role: str = Field(description="admissions, clinician or admin")
    active: bool


class SessionOut(Out):
    user: UserOut | None
    csrf_token: str = Field(description="send as X-CSRF-Token on unsafe requests")


class SignedOut(Out):
    user: None


class PasswordChanged(Out):
    user: UserOut
    sessions_ended: int = Field(description="how many of the user's sessions this ended")


class PatientOut(Out):
    id: int
    mrn: str
    family_name: str
    given_name: str
    birth_date: str = Field(description="YYYY-MM-DD")
    status: str


class PatientList(Out):
    patients: list[PatientOut]
    total: int = Field(description="how many patients match, over every page")


class IntakeOut(Out):
    id: int
    recorded_at: str | None
    answers: dict[str, Any] = Field(description="the intake as given")
    recommendation: dict[str, Any] = Field(description="the level-of-care recommendation")
    decision: str | None = Field(description="admit, refer, or null while undecided")
    decided_at: str | None


class PatientSummary(PatientOut):
    intakes: list[IntakeOut]


class Finding(Open):
    code: str
    severity: str = Field(description="info, warning or critical")
    summary: str
    detail: str | None = None
    rule: str
    rule_version: int
    sources: list[dict[str, Any]]


class CheckReport(Open):
    """The check report (the public contract of ``benzosafe check --json``)."""

    drug: str
    findings: list[Finding]
    not_evaluated: list[dict[str, Any]]
    daily_dose_mg: float | None
    diazepam_equivalent_mg_per_day: float | None
    equivalence_table: str
    knowledge_version: str


class PrescriptionOut(Out):
    id: int
    recorded_at: str | None
    order: dict[str, Any]
    patient: dict[str, Any]
    report: CheckReport


class TaperPlan(Open):
    """The taper plan (the public contract of ``benzosafe taper --json``)."""

    kind: str
    drug: str
    start: str
    stop: str
    total_days: int
    strategy: str
    knowledge_version: str
    bounds: list[dict[str, Any]]
    findings: list[dict[str, Any]]
    history: list[dict[str, Any]]
    steps: list[dict[str, Any]]


class TaperPlanVersion(Out):
    number: int
    note: str
    recorded_at: str | None
    request: dict[str, Any] = Field(description="the taper request as made")
    adjustments: list[dict[str, Any]]
    plan: TaperPlan


class TaperPlanOut(Out):
    id: int
    patient_id: int
    status: str = Field(description="active (at most one per patient) or ended")
    version: int
    updated_at: str | None
    ended_at: str | None
    end_reason: str | None = Field(
        description="why the plan ended, e.g. 'replaced by plan 7 on 2026-12-05 by Dr Lee'"
    )
    versions: list[TaperPlanVersion]


class DoseOut(Out):
    id: int
    day: str
    daily_mg: float
    note: str


class AssessmentOut(Out):
    id: int
    instrument: str
    taken_at: str | None
    answers: Any
    total: float | None
    score: dict[str, Any] = Field(description="the score as `benzosafe assess --json`")


class SideEffectOut(Out):
    id: int
    reported_at: str | None
    report: Any = Field(description="the symptoms as reported")
    level: str
    triage: dict[str, Any] = Field(description="the triage as `benzosafe triage --json`")


class ChartOut(Out):
    patient: PatientOut
    intakes: list[IntakeOut]
    prescriptions: list[PrescriptionOut]
    taper_plans: list[TaperPlanOut]
    doses: list[DoseOut]
    assessments: list[AssessmentOut]
    side_effects: list[SideEffectOut]


class Monograph(Open):
    """The cited monograph of a drug (``benzosafe drug NAME --json``)."""

    id: str
    names: list[str]
    knowledge_version: str


class UserList(Out):
    users: list[UserOut]


class AuditEventOut(Out):
    id: int
    at: str | None
    user_id: int | None
    username: str | None
    action: str
    patient_id: int | None
    what: Any


class AuditList(Out):
    events: list[AuditEventOut]


FILES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file",
        "content": {
            media: {"schema": {"type": "string", "format": "binary"}}
            for media in ("application/pdf", "text/calendar", "application/fhir+json")
        },
    }
}
