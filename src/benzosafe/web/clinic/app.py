"""The FastAPI application: ``create_app(settings)`` wires records, auth, pages and API.

Logging names the request id, the route template, the status and the time taken, never a
path with ids, a query string or a body, so no patient data reaches the logs (see
:mod:`benzosafe.web.logs` for the format and how exceptions are scrubbed).
"""

from __future__ import annotations

import logging
import os
import time
from importlib.resources import files
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from benzosafe._version import __version__
from benzosafe.store import records
from benzosafe.store.db import make_engine, session_factory, upgrade
from benzosafe.web.clinic import actions, api, errors, pages
from benzosafe.web.clinic.auth import SessionCookies, csrf_protect
from benzosafe.web.clinic.settings import Settings

if TYPE_CHECKING:
    from benzosafe.web.cds.settings import CdsSettings

log = logging.getLogger("benzosafe.web")

#: Set on every answer unless the route set its own.
SECURITY_HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
)


class RequestLog:
    """ASGI middleware: one log line per request (request id, method, route template, status,
    milliseconds; never a path, a query string or a body), the ``X-Request-ID`` and security
    headers on every answer, and an exception the app did not answer turned into a 500 here
    (:func:`errors.server_error`: its type and frames logged, never its text), so it is not
    re-raised to the server, which would log it with its text.

    A plain ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``, which runs the
    app in a task of its own and streams the answer through a memory channel: 0.3 to 1 ms of
    CPU a request (issue #18)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request = Request(scope)
        rid = errors.request_id(request)
        status, answering = 500, False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, answering
            if message["type"] == "http.response.start":
                status, answering = message["status"], True
                headers = MutableHeaders(scope=message)
                headers["X-Request-ID"] = rid
                for name, value in SECURITY_HEADERS:
                    headers.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception as exc:
            if answering:
                raise  # the answer had started: nothing else can be sent
            await errors.server_error(request, exc)(scope, receive, send_with_headers)
        finally:
            route = getattr(scope.get("route"), "path", "-")
            ms = round((time.perf_counter() - started) * 1000, 1)
            method = scope["method"]
            log.info(
                "%s %s %d %.1fms",
                method,
                route,
                status,
                ms,
                extra={
                    "request_id": rid,
                    "method": method,
                    "route": route,
                    "status": status,
                    "ms": ms,
                },
            )


def create_app(
    settings: Settings | None = None, *, migrate: bool = True, cds: CdsSettings | None = None
) -> FastAPI:
    """The web app over the database of ``settings`` (migrated to the newest schema first).

    With ``cds`` (or ``BENZOSAFE_CDS_SETTINGS`` in the environment, as for ``serve-cds``)
    the CDS Hooks service is mounted at ``/cds`` as an app of its own: its bearer-token
    authentication and OperationOutcome errors, none of the session, CSRF or error shape
    of the clinician app (an EHR calls it, not a browser).
    """
    settings = settings or Settings.from_env()
    engine = make_engine(settings.database_url)
    if migrate:
        upgrade(engine)
    app = FastAPI(
        title="benzosafe",
        version=__version__,
        description="Treatment programme records and clinical decision support for "
        "clonazepam and the benzodiazepines. It supports, never replaces, clinical judgement.",
        dependencies=[Depends(csrf_protect)],
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    with app.state.sessions() as session:  # a protocol other than the last one is audited
        actions.note_protocol(session, records.SYSTEM)
        session.commit()
    app.add_middleware(
        SessionCookies,
        max_age=int(settings.session_absolute_timeout.total_seconds()),
        secure=settings.secure_cookies,
    )

    app.add_middleware(RequestLog)  # outside the cookies: it sees every answer

    errors.install(app)
    app.mount(
        "/static", StaticFiles(directory=str(files("benzosafe.web.clinic") / "static")), "static"
    )
    app.include_router(api.router)
    app.include_router(pages.router)
    if cds is not None:
        from benzosafe.web.cds.app import create_cds_app

        app.mount("/cds", create_cds_app(cds), "cds")
    elif os.environ.get("BENZOSAFE_CDS_SETTINGS"):
        from benzosafe.web.cds.app import app_from_environment

        app.mount("/cds", app_from_environment(), "cds")
    return app
