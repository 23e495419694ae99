"""Signing in under attack, on SQLite and on PostgreSQL: the lock-out holds when the wrong
passwords arrive all at once, every failure is counted once, and too many attempts for one
account or from one address are refused (429) before a password is even checked."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from fastapi import FastAPI
from support import PASSWORD, Api, in_parallel

from benzosafe.store.accounts import RateLimit
from benzosafe.web.clinic.app import create_app
from benzosafe.web.clinic.settings import Settings

WRONG = "not the password"


def new_user(app: FastAPI) -> str:
    admin = Api(app)
    assert admin.sign_in("test-admin").status_code == 200
    name = f"u-{uuid.uuid4().hex[:10]}"
    body = {"username": name, "password": PASSWORD, "role": "clinician"}
    assert admin.post("/api/users", body).status_code == 201
    return name


def audited(app: FastAPI, username: str, action: str) -> list[str]:
    admin = Api(app)
    assert admin.sign_in("test-admin").status_code == 200
    events = admin.get("/api/audit", params={"limit": 1000}).json()["events"]
    return [e["what"] for e in events if e["username"] == username and e["action"] == action]


def failure_number(what: str) -> int:
    """3 from the audited "failure 3" or "failure 3, locked"."""
    return int(what.split()[1].rstrip(","))


def test_parallel_wrong_passwords_lock_the_account(app: FastAPI) -> None:
    name = new_user(app)
    limit = app.state.settings.max_failed_sign_ins
    clients = [Api(app) for _ in range(limit)]
    answers = in_parallel([partial(api.sign_in, name, WRONG) for api in clients])
    assert [a.status_code for a in answers] == [401] * limit
    refused = Api(app).sign_in(name, PASSWORD)
    assert refused.status_code == 401 and "locked" in refused.json()["error"]["message"]
    # Each failure was counted once: 1..limit, the last one locking.
    counts = sorted(audited(app, name, "sign-in.refused"), key=failure_number)
    expected = [f"failure {n}" for n in range(1, limit)] + [f"failure {limit}, locked"]
    assert counts == expected, counts
    assert audited(app, name, "sign-in.locked") == [""]


def test_more_parallel_failures_than_the_limit_are_all_counted(app: FastAPI) -> None:
    name = new_user(app)
    clients = [Api(app) for _ in range(8)]
    answers = in_parallel([partial(api.sign_in, name, WRONG) for api in clients])
    assert {a.status_code for a in answers} == {401}
    # Attempts that started before the lock are refused as failures 1..k; the rest, read
    # after the lock, are refused as locked: eight attempts, none lost, no count repeated.
    failures = [failure_number(w) for w in audited(app, name, "sign-in.refused")]
    locked = audited(app, name, "sign-in.locked")
    assert sorted(failures) == list(range(1, len(failures) + 1))
    assert len(failures) >= app.state.settings.max_failed_sign_ins
    assert len(failures) + len(locked) == 8
    assert Api(app).sign_in(name, PASSWORD).status_code == 401


@pytest.fixture
def limited(app: FastAPI) -> Iterator[FastAPI]:
    """The same database, behind an app with small sign-in rate limits."""
    settings = Settings(
        environment="test",
        secret_key="l" * 40,
        database_url=app.state.settings.database_url,
        max_failed_sign_ins=100,  # the lock-out out of the way: the rate limits alone
        sign_ins_per_account=RateLimit(3, timedelta(minutes=15)),
        sign_ins_per_client=RateLimit(6, timedelta(minutes=15)),
    )
    limited = create_app(settings, migrate=False)
    yield limited
    limited.state.engine.dispose()


def address() -> str:
    """A client address of the test's own, so no other test's attempts count against it."""
    return f"client-{uuid.uuid4().hex[:10]}"


def error_code(response: Any) -> str:
    return str(response.json()["error"]["code"]) if response.status_code >= 400 else "ok"


def test_too_many_attempts_for_one_account_are_refused_unchecked(
    app: FastAPI, limited: FastAPI
) -> None:
    name = new_user(app)
    api = Api(limited, address())
    codes = [error_code(api.sign_in(name, "wrong password!")) for _ in range(3)]
    assert codes == ["sign-in-refused"] * 3
    over = api.sign_in(name, PASSWORD)  # the right password, but over the limit
    assert over.status_code == 429 and error_code(over) == "too-many-attempts"
    assert "this account" in over.json()["error"]["message"]
    assert audited(app, name, "sign-in.rate-limited") == ["per account"]
    # The unchecked attempt counted no failure.
    assert len(audited(app, name, "sign-in.refused")) == 3


def test_the_account_limit_holds_under_parallel_attempts(app: FastAPI, limited: FastAPI) -> None:
    name = f"nobody-{uuid.uuid4().hex[:8]}"  # unknown users have no lock-out: only the limit
    here = address()
    clients = [Api(limited, here) for _ in range(6)]
    answers = in_parallel([partial(api.sign_in, name, "guess number 1") for api in clients])
    codes = sorted(error_code(a) for a in answers)
    assert codes == ["sign-in-refused"] * 3 + ["too-many-attempts"] * 3


def test_signing_in_does_not_use_up_the_limit(app: FastAPI, limited: FastAPI) -> None:
    name = new_user(app)
    here = address()
    for _ in range(5):
        assert Api(limited, here).sign_in(name, PASSWORD).status_code == 200


def test_too_many_attempts_from_one_address_are_refused(app: FastAPI, limited: FastAPI) -> None:
    api = Api(limited, address())
    names = [f"spray-{uuid.uuid4().hex[:8]}" for _ in range(7)]
    codes = [error_code(api.sign_in(name, "Winter2026!!")) for name in names]
    assert (
        codes[-1] == "too-many-attempts"
        and "this address" in api.sign_in(names[0], "x" * 12).json()["error"]["message"]
    )
    page = api.form("/sign-in", {"username": names[0], "password": "x" * 12})
    assert page.status_code == 429 and "too many sign-in attempts" in page.text
