"""The CDS Hooks service mounted in the clinician app at /cds keeps its own rules: bearer
tokens instead of sessions and CSRF, OperationOutcome errors instead of the app's shape."""

from __future__ import annotations

from fastapi.testclient import TestClient

from benzosafe.web.cds.settings import CdsSettings
from benzosafe.web.clinic.app import create_app
from benzosafe.web.clinic.settings import Settings


def test_cds_hooks_mounted_at_cds(empty_database_url: str) -> None:
    settings = Settings(environment="test", secret_key="c" * 40, database_url=empty_database_url)
    app = create_app(settings, cds=CdsSettings(allow_unauthenticated=True))
    with TestClient(app) as client:
        services = client.get("/cds/cds-services").json()["services"]
        assert services and all("hook" in s for s in services)
        # No CSRF token, no session: the CDS service answers in its own terms.
        response = client.post("/cds/cds-services/no-such-service", json={})
        assert response.status_code != 403
        assert response.json()["resourceType"] == "OperationOutcome"
        # The clinician app around it is unchanged.
        assert client.post("/api/patients", json={}).json()["error"]["code"] == "csrf"
    app.state.engine.dispose()
