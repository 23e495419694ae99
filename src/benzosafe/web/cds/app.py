"""The CDS Hooks service as an app of its own: ``benzosafe serve-cds`` serves it, uvicorn
workers build it from the environment, and the clinician web app mounts it at ``/cds``.

The gate (:mod:`.gate`) wraps the endpoints, so that every call is authenticated and its
body bounded before anything reads it; errors are OperationOutcomes (:mod:`.errors`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from benzosafe._version import __version__
from benzosafe.web.cds.errors import install_error_handlers
from benzosafe.web.cds.gate import CdsGate
from benzosafe.web.cds.service import build_cds_router
from benzosafe.web.cds.settings import CdsSettings


def create_cds_app(settings: CdsSettings) -> FastAPI:
    """The CDS Hooks service on its own, with OperationOutcome errors."""
    router, service = build_cds_router(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await service.store.close()

    app = FastAPI(
        title="benzosafe CDS Hooks service",
        version=__version__,
        description="Benzodiazepine and opioid order checks inside the EHR (CDS Hooks). "
        "Supports, never replaces, clinical judgement.",
        lifespan=lifespan,
    )
    app.include_router(router)
    app.add_middleware(CdsGate, service=service)
    app.state.cds_store = service.store
    app.state.cds_service = service
    install_error_handlers(app)
    return app


def app_from_environment() -> FastAPI:
    """The app for uvicorn workers: settings from ``BENZOSAFE_CDS_SETTINGS`` (JSON)."""
    import json
    import os
    from pathlib import Path

    data = json.loads(os.environ["BENZOSAFE_CDS_SETTINGS"])
    issuers = data.pop("issuers_file")
    if "state_path" in data:  # the name of the setting before it could be a URL
        data["state"] = data.pop("state_path")
    if data.get("allowed_fhir_servers") is not None:
        data["allowed_fhir_servers"] = tuple(data["allowed_fhir_servers"])
    return create_cds_app(CdsSettings(issuers_file=Path(issuers) if issuers else None, **data))
