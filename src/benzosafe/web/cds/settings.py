"""How the CDS Hooks service runs: who it trusts, where it keeps state, which FHIR servers
it may fetch prefetch from, and its limits.

Without trusted issuers the service refuses every call, unless the development mode without
JWT (``allow_unauthenticated``) was set explicitly; :mod:`.service` enforces that at start.
Without an allow-list of FHIR servers it fetches nothing (a call that needs FHIR data is
answered 412), unless ``allow_any_fhir_server`` (development only) was set explicitly.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benzosafe.web.cds.keys import TrustedIssuers

ONE_MB = 1_000_000


@dataclass(slots=True)
class CdsSettings:
    """How the CDS Hooks service runs. Without issuers it refuses every call, unless
    ``allow_unauthenticated`` (development only) was set explicitly."""

    public_url: str | None = None
    issuers_file: Path | None = None
    trusted: TrustedIssuers | None = None
    allow_unauthenticated: bool = False
    # Where the state lives: an SQLite file or ":memory:" (one process), or a
    # postgresql:// or redis:// URL that every worker of every host shares.
    state: str = ":memory:"
    app_url: str | None = None
    fhir_timeout_seconds: float = 5.0
    shown_ttl_seconds: float = 24 * 3600
    # How long feedback is taken on a card after it was sent.
    issued_ttl_seconds: float = 24 * 3600
    # Clock skew tolerated on exp, iat and nbf.
    leeway_seconds: float = 30.0
    # The longest a token may live (exp - iat); the CDS Hooks specification recommends 5 min.
    max_token_lifetime_seconds: float = 300.0
    # Request bodies over this are answered 413 without being read further.
    max_body_bytes: int = ONE_MB
    clock: Any = field(default=time.time)
    # Base URLs of the FHIR servers this service may send an EHR's access token to (a
    # fhirServer must lie under one, compared after normalisation). None or empty: none.
    allowed_fhir_servers: tuple[str, ...] | None = None
    # Development only: fetch from whatever fhirServer a caller names.
    allow_any_fhir_server: bool = False
    fhir_transport: Any = None  # an httpx transport, to reach a FHIR server in tests
