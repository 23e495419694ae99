"""How the CDS Hooks service runs: who it trusts, where it keeps state, which FHIR servers
it may fetch prefetch from and how long it waits for them.

Without trusted issuers the service refuses every call, unless the development mode without
JWT (``allow_unauthenticated``) was set explicitly; :mod:`.service` enforces that at start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benzosafe.web.cds.auth import TrustedIssuers


@dataclass(slots=True)
class CdsSettings:
    """How the CDS Hooks service runs. Without issuers it refuses every call, unless
    ``allow_unauthenticated`` (development only) was set explicitly."""

    public_url: str | None = None
    issuers_file: Path | None = None
    trusted: TrustedIssuers | None = None
    allow_unauthenticated: bool = False
    state_path: str = ":memory:"
    app_url: str | None = None
    fhir_timeout_seconds: float = 5.0
    shown_ttl_seconds: float = 24 * 3600
    leeway_seconds: float = 30.0
    clock: Any = field(default=time.time)
    # Base URLs of the FHIR servers this service may fetch from (fhirServer must start with
    # one); None: any server the caller names (the caller is authenticated by its JWT).
    allowed_fhir_servers: tuple[str, ...] | None = None
    fhir_transport: Any = None  # an httpx transport, to reach a FHIR server in tests
