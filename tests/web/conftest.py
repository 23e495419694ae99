"""The web app over a migrated database (SQLite and PostgreSQL), and signed-in clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from support import PASSWORD, Api

from benzosafe.store import accounts, records
from benzosafe.store.accounts import RateLimit
from benzosafe.web.clinic.app import create_app
from benzosafe.web.clinic.settings import Settings

ROLES = ("admin", "clinician", "admissions")


@pytest.fixture(scope="session")
def app(database_url: str) -> Iterator[FastAPI]:
    # Every TestClient signs in from one address ("testclient"): the per-client limit is
    # lifted here and tested on an app of its own (test_sign_in_limits.py).
    unlimited = RateLimit(1_000_000, timedelta(minutes=15))
    settings = Settings(
        environment="test",
        secret_key="t" * 40,
        database_url=database_url,
        sign_ins_per_client=unlimited,
    )
    app = create_app(settings)
    with app.state.sessions() as session:
        for role in ROLES:
            accounts.create_user(session, records.SYSTEM, f"test-{role}", PASSWORD, role)
        session.commit()
    yield app
    app.state.engine.dispose()


@pytest.fixture
def as_role(app: FastAPI) -> Callable[[str], Api]:
    def make(role: str) -> Api:
        api = Api(app)
        assert api.sign_in(f"test-{role}").status_code == 200
        return api

    return make


@pytest.fixture
def clinician(as_role: Callable[[str], Api]) -> Api:
    return as_role("clinician")


@pytest.fixture
def patient_id(clinician: Api) -> int:
    import uuid

    body = {
        "mrn": f"T-{uuid.uuid4().hex[:10]}",
        "family_name": "Testperson",
        "given_name": "Synthetic",
        "birth_date": "1960-02-03",
    }
    response = clinician.post("/api/patients", body)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])
