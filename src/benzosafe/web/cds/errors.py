"""Every error of the CDS Hooks service as a FHIR OperationOutcome, never a traceback.

The handlers read the status, FHIR issue type and field that each
:class:`~benzosafe.errors.BenzosafeError` carries; CDS Hooks answers a request the client
must fix with 400 where the clinic's JSON API says 422.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response

from benzosafe.errors import BenzosafeError
from benzosafe.web.cds.gate import outcome_body
from benzosafe.web.logs import scrub_exception

log = logging.getLogger("benzosafe.cds")


def operation_outcome(
    status: int, code: str, message: str, expression: str | None = None
) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(
        outcome_body(status, code, message, expression),
        status_code=status,
        media_type="application/fhir+json",
        headers=headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    """Every error of the CDS Hooks endpoints as an OperationOutcome, never a traceback."""

    @app.exception_handler(BenzosafeError)
    async def _benzosafe(_: Request, exc: BenzosafeError) -> Response:
        # CDS Hooks answers a request the client must fix with 400, where the web API says 422.
        status = 400 if exc.status == 422 else exc.status
        return operation_outcome(status, exc.issue_type, str(exc), exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return operation_outcome(400, "invalid", f"{where}: {first.get('msg', 'invalid')}", where)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> Response:
        # Its type and frames, not its text: a hook's context and prefetch carry patient data.
        log.error("unexpected error in a CDS Hooks call", extra=scrub_exception(exc))
        return operation_outcome(500, "exception", "internal error; the request changed nothing")
