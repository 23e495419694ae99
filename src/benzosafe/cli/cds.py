"""``benzosafe serve-cds``: the CDS Hooks service an EHR calls, under uvicorn.

The command refuses unsafe or broken configurations (no trusted issuers without
``--dev-no-jwt``, no public URL for the JWT audience, several workers on an in-memory state)
before it starts; FastAPI, uvicorn and the service are imported inside the command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from benzosafe.cli.root import app, fail
from benzosafe.errors import BenzosafeError, InvalidInput


@app.command("serve-cds")
def serve_cds_command(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8010,
    public_url: Annotated[
        str | None, typer.Option(help="Base URL the EHR calls (the JWT aud is this + path).")
    ] = None,
    issuers: Annotated[
        Path | None, typer.Option(help="Trusted issuers (TOML/JSON): iss with jwks or jku.")
    ] = None,
    state: Annotated[
        str, typer.Option(help="SQLite file for feedback, shown findings and token ids.")
    ] = "benzosafe-cds.sqlite3",
    app_url: Annotated[
        str | None, typer.Option(help="Clinician web app base URL for taper-plan links.")
    ] = None,
    dev_no_jwt: Annotated[
        bool, typer.Option("--dev-no-jwt", help="Development only: accept calls without JWT.")
    ] = False,
    workers: Annotated[int, typer.Option(help="uvicorn worker processes.")] = 1,
    fhir_server: Annotated[
        list[str] | None,
        typer.Option(help="A FHIR server base URL this service may fetch from; repeat."),
    ] = None,
) -> None:
    """Serve the CDS Hooks service (discovery, order-select, order-sign, patient-view)."""
    import os

    import uvicorn

    from benzosafe.web.cds.auth import TrustedIssuers
    from benzosafe.web.cds.settings import CdsSettings

    if issuers is None and not dev_no_jwt:
        fail("--issuers: give the trusted issuers file, or --dev-no-jwt for development only")
    if issuers is not None and not public_url:
        fail("--public-url: required with --issuers (the JWT aud must be the URL called)")
    if issuers is not None:
        try:
            TrustedIssuers.from_file(issuers)
        except BenzosafeError as exc:
            # not a second handler: the message gains the option's name and goes on to the
            # root group, which prints it (benzosafe: --issuers: ...) and exits 2
            raise InvalidInput("--issuers", str(exc)) from exc
    if workers < 1:
        fail("--workers: must be 1 or more")
    if workers > 1 and state == ":memory:":
        fail("--state: several workers need a shared SQLite file, not :memory:")
    if dev_no_jwt:
        sys.stderr.write("benzosafe: WARNING: development mode, calls are not authenticated\n")
    settings = CdsSettings(
        public_url=public_url,
        issuers_file=issuers,
        allow_unauthenticated=dev_no_jwt,
        state_path=state,
        app_url=app_url,
        allowed_fhir_servers=tuple(fhir_server) if fhir_server else None,
    )
    if workers == 1:
        from benzosafe.web.cds.app import create_cds_app

        uvicorn.run(
            create_cds_app(settings), host=host, port=port, log_level="warning", access_log=False
        )
        return
    os.environ["BENZOSAFE_CDS_SETTINGS"] = json.dumps(
        {
            "public_url": public_url,
            "issuers_file": str(issuers) if issuers else None,
            "allow_unauthenticated": dev_no_jwt,
            "state_path": state,
            "app_url": app_url,
            "allowed_fhir_servers": fhir_server or None,
        }
    )
    uvicorn.run(
        "benzosafe.web.cds.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
    )
