"""``benzosafe serve-cds``: the CDS Hooks service an EHR calls, under uvicorn.

The command refuses unsafe or broken configurations (no trusted issuers without
``--dev-no-jwt``, no public URL for the JWT audience, several workers on an in-memory state,
an allow-list entry that is not a usable FHIR base URL) before it starts; FastAPI, uvicorn
and the service are imported inside the command. Every process (or each uvicorn worker)
builds the app from one JSON description of the settings in ``BENZOSAFE_CDS_SETTINGS``.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

import click

from benzosafe.cli.params import PATH, Command, flag, option
from benzosafe.cli.root import fail
from benzosafe.errors import BenzosafeError, InvalidInput

if TYPE_CHECKING:
    from pathlib import Path


@click.command("serve-cds", cls=Command)
@option("--host", default="127.0.0.1", help="Address to listen on.")
@option("--port", kind=int, default=8010, help="Port to listen on.")
@option("--public-url", help="Base URL the EHR calls (the JWT aud is this + path).")
@option("--issuers", kind=PATH, help="Trusted issuers (TOML/JSON): iss with jwks or jku.")
@option(
    "--state",
    default="benzosafe-cds.sqlite3",
    help="Where token ids, shown findings, issued cards and feedback live: an SQLite "
    "file (one host), or a postgresql:// or redis:// URL (shared by every worker "
    "and host).",
)
@option("--app-url", help="Clinician web app base URL for taper-plan links.")
@flag("--dev-no-jwt", help="Development only: accept calls without JWT.")
@option("--workers", kind=int, default=1, help="uvicorn worker processes.")
@option(
    "--fhir-server",
    multiple=True,
    help="A FHIR server base URL this service may send an EHR's token to; repeat. "
    "Without one, missing prefetch is never fetched.",
)
@flag(
    "--dev-any-fhir-server",
    help="Development only: fetch prefetch from any fhirServer a caller names.",
)
@option(
    "--max-body-bytes",
    kind=int,
    default=1_000_000,
    help="Largest request body accepted; larger is answered 413.",
)
@option(
    "--max-token-lifetime",
    kind=float,
    default=300.0,
    help="Longest JWT lifetime accepted (exp - iat), in seconds.",
)
@option(
    "--clock-leeway",
    kind=float,
    default=30.0,
    help="Clock skew tolerated on exp, iat and nbf, in seconds.",
)
def serve_cds_command(
    host: str,
    port: int,
    public_url: str | None,
    issuers: Path | None,
    state: str,
    app_url: str | None,
    dev_no_jwt: bool,
    workers: int,
    fhir_server: tuple[str, ...],
    dev_any_fhir_server: bool,
    max_body_bytes: int,
    max_token_lifetime: float,
    clock_leeway: float,
) -> None:
    """Serve CDS Hooks to an EHR. Discovery, order-select, order-sign and patient-view."""
    import os

    import uvicorn

    from benzosafe.fhir.prefetch import allowed_bases
    from benzosafe.web.cds.auth import TrustedIssuers

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
        fail("--state: several workers need a shared store (a file or URL), not :memory:")
    if max_body_bytes < 1:
        fail("--max-body-bytes: must be 1 or more")
    if max_token_lifetime <= 0 or clock_leeway < 0:
        fail("--max-token-lifetime must be positive and --clock-leeway not negative")
    try:
        allowed_bases(tuple(fhir_server or ()))
    except BenzosafeError as exc:
        raise InvalidInput("--fhir-server", str(exc)) from exc
    if dev_no_jwt:
        sys.stderr.write("benzosafe: WARNING: development mode, calls are not authenticated\n")
    if dev_any_fhir_server:
        sys.stderr.write(
            "benzosafe: WARNING: development mode, EHR tokens go to any FHIR server named\n"
        )
    options = {
        "public_url": public_url,
        "issuers_file": str(issuers) if issuers else None,
        "allow_unauthenticated": dev_no_jwt,
        "state": state,
        "app_url": app_url,
        "allowed_fhir_servers": list(fhir_server) or None,
        "allow_any_fhir_server": dev_any_fhir_server,
        "max_body_bytes": max_body_bytes,
        "max_token_lifetime_seconds": max_token_lifetime,
        "leeway_seconds": clock_leeway,
    }
    # One description of the settings, which each worker (or this process) builds the app from.
    os.environ["BENZOSAFE_CDS_SETTINGS"] = json.dumps(options)
    from benzosafe.web.logs import log_config

    if workers == 1:
        from benzosafe.web.cds.app import app_from_environment

        uvicorn.run(
            app_from_environment(),
            host=host,
            port=port,
            log_config=log_config("WARNING"),
            access_log=False,
            proxy_headers=False,  # the JWT audience comes from --public-url, not from a proxy
        )
        return
    uvicorn.run(
        "benzosafe.web.cds.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=log_config("WARNING"),
        access_log=False,
        proxy_headers=False,
    )
