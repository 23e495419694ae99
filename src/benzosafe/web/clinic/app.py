"""The FastAPI application: ``create_app(settings)`` wires records, auth, pages and API.

Logging names the request id, the route template, the status and the time taken, never a
path with ids, a query string or a body, so no patient data reaches the logs (see
:mod:`benzosafe.web.logs` for the format and how exceptions are scrubbed).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Awaitable, Callable
from importlib.resources import files
from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from benzosafe._version import __version__
from benzosafe.store import records
from benzosafe.store.db import make_engine, session_factory, upgrade
from benzosafe.web.clinic import actions, api, errors, pages
from benzosafe.web.clinic.auth import SessionCookies, csrf_protect
from benzosafe.web.clinic.settings import Settings

if TYPE_CHECKING:
    from benzosafe.web.cds.settings import CdsSettings

log = logging.getLogger("benzosafe.web")


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

    @app.middleware("http")
    async def log_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        rid = errors.request_id(request)
        try:
            response = await call_next(request)
        except Exception as exc:
            # Answered here, so the exception is not re-raised to the server, which would log
            # it with its text.
            response = errors.server_error(request, exc)
        route = getattr(request.scope.get("route"), "path", "-")
        ms = round((time.perf_counter() - started) * 1000, 1)
        status = response.status_code
        log.info(
            "%s %s %d %.1fms",
            request.method,
            route,
            status,
            ms,
            extra={
                "request_id": rid,
                "method": request.method,
                "route": route,
                "status": status,
                "ms": ms,
            },
        )
        response.headers["X-Request-ID"] = rid
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
        return response

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
