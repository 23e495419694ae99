"""One error shape for the API, one error page for people.

API (paths under ``/api``)::

    {"error": {"status": 422, "code": "invalid-input", "message": "...",
               "field": "order.dose", "allowed": []}}

Pages get the same message on an HTML page; a missing sign-in redirects to ``/sign-in``.
No traceback reaches a user; a server error is logged as its exception's type and frames
with the request id (:func:`server_error`), never the exception's text or request data.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException

from benzosafe.errors import BenzosafeError
from benzosafe.store.db import is_conflict
from benzosafe.web.logs import scrub_exception

log = logging.getLogger("benzosafe.web")

_HTTP_CODES = {404: "not-found", 405: "method-not-allowed", 401: "not-signed-in"}


def error_body(
    status: int, code: str, message: str, field: str | None = None, allowed: Any = ()
) -> dict[str, Any]:
    return {
        "error": {
            "status": status,
            "code": code,
            "message": message,
            "field": field,
            "allowed": list(allowed),
        }
    }


def _respond(request: Request, body: dict[str, Any]) -> Response:
    status = int(body["error"]["status"])
    if request.url.path.startswith("/api") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse(body, status_code=status)
    if body["error"]["code"] == "not-signed-in":
        return RedirectResponse("/sign-in", status_code=303)
    from benzosafe.web.clinic.pages import render

    return render(request, "error.html", {"error": body["error"]}, status_code=status)


def install(app: FastAPI) -> None:
    @app.exception_handler(BenzosafeError)
    async def benzosafe_error(request: Request, exc: BenzosafeError) -> Response:
        body = error_body(exc.status, exc.code, str(exc), exc.field, exc.allowed)
        return _respond(request, body)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        field = ".".join(str(p) for p in first.get("loc", ()) if p != "body") or None
        message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
        return _respond(request, error_body(422, "invalid-input", message, field))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return _respond(request, error_body(exc.status_code, code, str(exc.detail)))

    @app.exception_handler(SQLAlchemyError)
    async def database_error(request: Request, exc: SQLAlchemyError) -> Response:
        if is_conflict(exc):
            message = (
                "someone else changed this record at the same moment; nothing was saved: "
                "reload it and try again"
            )
            return _respond(request, error_body(409, "conflict", message))
        return server_error(request, exc)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        return server_error(request, exc)


def request_id(request: Request) -> str:
    """The id of this request (made by the app's middleware), named in its log lines, its
    ``X-Request-ID`` header and a 500's message."""
    rid = getattr(request.state, "request_id", None)
    if not isinstance(rid, str):
        rid = request.state.request_id = secrets.token_hex(8)
    return rid


def server_error(request: Request, exc: BaseException) -> Response:
    """A 500: logged as the exception's type names and frames with the request id and the route
    template, never the exception's text (it may quote a patient's row); the user gets the
    request id to quote to an administrator."""
    rid = request_id(request)
    route = _route(request)
    log.error(
        "server error on %s %s",
        request.method,
        route,
        extra={
            "request_id": rid,
            "method": request.method,
            "route": route,
            "status": 500,
            **scrub_exception(exc),
        },
    )
    message = f"an unexpected error; nothing was saved (request {rid})"
    return _respond(request, error_body(500, "server-error", message))


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "?"))
