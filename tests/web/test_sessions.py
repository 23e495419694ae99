"""Sessions live in the database and end, on SQLite and PostgreSQL: after sign-out the old
cookie reads nothing; deactivation and a password change end a user's sessions; idle and
absolute time-outs; a forged or random session id is nobody.

Time-outs are tested two ways: on the app with the default time-outs, by moving a session's
recorded times back (as if that long had passed), and on an app of its own with time-outs of
a few seconds, in real time.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from support import PASSWORD, Api, in_parallel

from benzosafe.errors import InvalidInput
from benzosafe.store.accounts import RateLimit
from benzosafe.store.models import AuditEventRow, UserSessionRow, utcnow
from benzosafe.web.clinic.app import create_app
from benzosafe.web.clinic.settings import Settings

COOKIE = "benzosafe_session"
NEW_PASSWORD = "a brand new passphrase"  # noqa: S105 (a test user's)


def token_of(api: Api) -> str:
    token = api.client.cookies.get(COOKIE)
    assert token is not None
    return str(token)


def with_cookie(app: FastAPI, token: str) -> TestClient:
    """A client that has only this cookie (a copied or forged one)."""
    return TestClient(app, raise_server_exceptions=False, cookies={COOKIE: token})


def session_row(app: FastAPI, token: str) -> UserSessionRow:
    digest = hashlib.sha256(token.encode()).hexdigest()
    with app.state.sessions() as db:
        row: UserSessionRow | None = db.scalar(
            select(UserSessionRow).where(UserSessionRow.token_hash == digest)
        )
    assert row is not None
    return row


def audit_actions(app: FastAPI, username: str) -> list[str]:
    with app.state.sessions() as db:
        return list(
            db.scalars(
                select(AuditEventRow.action)
                .where(AuditEventRow.username == username)
                .order_by(AuditEventRow.id)
            )
        )


def new_user(app: FastAPI, role: str = "clinician") -> str:
    admin = Api(app)
    assert admin.sign_in("test-admin").status_code == 200
    name = f"sess-{uuid.uuid4().hex[:8]}"
    body = {"username": name, "password": PASSWORD, "role": role}
    assert admin.post("/api/users", body).status_code == 201
    return name


def signed_in(app: FastAPI, username: str, password: str = PASSWORD) -> Api:
    api = Api(app)
    assert api.sign_in(username, password).status_code == 200
    return api


def user_id(app: FastAPI, username: str) -> int:
    admin = signed_in(app, "test-admin")
    users = admin.get("/api/users").json()["users"]
    return int(next(u["id"] for u in users if u["username"] == username))


def test_the_cookie_carries_only_a_random_token_stored_hashed(app: FastAPI) -> None:
    api = Api(app)
    anonymous, csrf_before = token_of(api), api.csrf
    signed = api.sign_in("test-clinician")
    token = token_of(api)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token) and token != anonymous
    assert signed.json()["csrf_token"] != csrf_before  # a new token, a new CSRF token
    row = session_row(app, token)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert row.ended_at is None and row.end_reason is None
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and f"max-age={12 * 3600}" in cookie


def test_parallel_sign_ins_of_one_user_each_get_a_session(app: FastAPI) -> None:
    name = new_user(app)
    clients = [Api(app) for _ in range(10)]
    answers = in_parallel([partial(api.sign_in, name) for api in clients])
    assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers]
    tokens = {token_of(api) for api in clients}
    assert len(tokens) == 10
    for api in clients:
        assert api.get("/api/patients").status_code == 200
        assert session_row(app, token_of(api)).ended_at is None


@pytest.mark.parametrize("how", ["api", "page"])
def test_the_old_cookie_reads_no_patient_after_sign_out(
    app: FastAPI, patient_id: int, how: str
) -> None:
    name = new_user(app)
    api = signed_in(app, name)
    token = token_of(api)
    assert with_cookie(app, token).get(f"/api/patients/{patient_id}").status_code == 200
    if how == "api":
        out = api.client.delete("/api/session", headers={"X-CSRF-Token": api.csrf})
        assert out.status_code == 200 and out.json() == {"user": None}
    else:
        assert api.form("/sign-out", {}).status_code == 303
    assert token_of(api) != token  # the browser got a new, anonymous token
    copied = with_cookie(app, token)
    for path in (f"/api/patients/{patient_id}", f"/api/patients/{patient_id}/chart"):
        answer = copied.get(path)
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "not-signed-in"
    assert copied.get("/api/session").json()["user"] is None
    assert api.get(f"/api/patients/{patient_id}").status_code == 401
    assert session_row(app, token).end_reason == "sign-out"
    assert audit_actions(app, name)[-1] == "sign-out"
    # Signing out again (or with no session) is harmless and audits nothing more.
    api.client.delete(
        "/api/session", headers={"X-CSRF-Token": api.get("/api/session").json()["csrf_token"]}
    )
    assert audit_actions(app, name).count("sign-out") == 1


def test_a_forged_or_random_session_id_is_nobody(app: FastAPI, patient_id: int) -> None:
    live = signed_in(app, "test-clinician")
    token = token_of(live)
    forged = [
        "A" * 43,
        uuid.uuid4().hex + uuid.uuid4().hex[:11],
        token[:-1] + ("A" if token[-1] != "A" else "B"),
        hashlib.sha256(token.encode()).hexdigest(),  # what the database holds
        "not a token",
        f"{token}.signed",
    ]
    for cookie in forged:
        client = with_cookie(app, cookie)
        answer = client.get(f"/api/patients/{patient_id}")
        assert answer.status_code == 401, cookie
        assert client.get("/api/session").json()["user"] is None
        # A forged cookie cannot sign a write either: its CSRF token is not the live one's.
        refused = client.post("/api/patients", json={}, headers={"X-CSRF-Token": live.csrf})
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf"
    assert live.get(f"/api/patients/{patient_id}").status_code == 200


def test_deactivation_ends_the_users_live_sessions(app: FastAPI, patient_id: int) -> None:
    name = new_user(app)
    first, second = signed_in(app, name), signed_in(app, name)
    for api in (first, second):
        assert api.get(f"/api/patients/{patient_id}").status_code == 200
    admin = signed_in(app, "test-admin")
    uid = user_id(app, name)
    assert admin.post(f"/api/users/{uid}/active", {"active": False}).status_code == 200
    for api in (first, second):
        assert api.get(f"/api/patients/{patient_id}").status_code == 401
        assert session_row(app, token_of(api)).end_reason == "deactivated"
    assert "session.revoke" in audit_actions(app, "test-admin")
    # Reactivated, the user signs in again; the ended sessions stay ended.
    assert admin.post(f"/api/users/{uid}/active", {"active": True}).status_code == 200
    assert first.get(f"/api/patients/{patient_id}").status_code == 401
    assert signed_in(app, name).get(f"/api/patients/{patient_id}").status_code == 200


def test_a_password_change_ends_the_other_sessions(app: FastAPI, patient_id: int) -> None:
    name = new_user(app)
    here, elsewhere = signed_in(app, name), signed_in(app, name)
    wrong = here.post(
        "/api/session/password",
        {"current_password": "not my password", "new_password": NEW_PASSWORD},
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["field"] == "current_password"
    short = here.post(
        "/api/session/password", {"current_password": PASSWORD, "new_password": "short"}
    )
    assert short.status_code == 422 and short.json()["error"]["field"] == "password"
    assert elsewhere.get(f"/api/patients/{patient_id}").status_code == 200  # nothing ended
    changed = here.post(
        "/api/session/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["sessions_ended"] == 1
    assert here.get(f"/api/patients/{patient_id}").status_code == 200
    assert elsewhere.get(f"/api/patients/{patient_id}").status_code == 401
    assert session_row(app, token_of(elsewhere)).end_reason == "password-changed"
    assert Api(app).sign_in(name).status_code == 401
    assert "password.change" in audit_actions(app, name)
    # An admin's reset ends every session of the user, the one above too.
    again = signed_in(app, name, NEW_PASSWORD)
    admin = signed_in(app, "test-admin")
    reset = admin.post(f"/api/users/{user_id(app, name)}/password", {"password": PASSWORD})
    assert reset.status_code == 200 and reset.json()["sessions_ended"] == 2
    for api in (here, again):
        assert api.get(f"/api/patients/{patient_id}").status_code == 401
    assert admin.get("/api/users").status_code == 200  # the admin's own session stays
    assert signed_in(app, name).get(f"/api/patients/{patient_id}").status_code == 200


def move_back(app: FastAPI, token: str, **ago: timedelta) -> None:
    """Record the session as started / last seen that long ago."""
    now = utcnow()
    values = {f"{column}": now - delta for column, delta in ago.items()}
    digest = hashlib.sha256(token.encode()).hexdigest()
    with app.state.sessions() as db:
        db.execute(
            update(UserSessionRow).where(UserSessionRow.token_hash == digest).values(**values)
        )
        db.commit()


def test_idle_time_out(app: FastAPI, patient_id: int) -> None:
    name = new_user(app)
    api = signed_in(app, name)
    token = token_of(api)
    move_back(app, token, last_seen_at=timedelta(minutes=29))
    assert api.get(f"/api/patients/{patient_id}").status_code == 200
    seen = session_row(app, token).last_seen_at
    assert utcnow() - seen.replace(tzinfo=utcnow().tzinfo) < timedelta(minutes=1)  # touched
    move_back(app, token, last_seen_at=timedelta(minutes=31))
    answer = api.get(f"/api/patients/{patient_id}")
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "not-signed-in"
    assert session_row(app, token).end_reason == "idle"
    assert audit_actions(app, name)[-1] == "session.end"


def test_absolute_time_out_even_when_busy(app: FastAPI, patient_id: int) -> None:
    name = new_user(app)
    api = signed_in(app, name)
    token = token_of(api)
    move_back(app, token, created_at=timedelta(hours=11, minutes=59))
    assert api.get(f"/api/patients/{patient_id}").status_code == 200
    move_back(app, token, created_at=timedelta(hours=12, minutes=1), last_seen_at=timedelta(0))
    assert api.get(f"/api/patients/{patient_id}").status_code == 401
    assert session_row(app, token).end_reason == "expired"


def test_a_request_within_the_touch_interval_writes_nothing(app: FastAPI) -> None:
    api = signed_in(app, "test-clinician")
    token = token_of(api)
    move_back(app, token, last_seen_at=timedelta(seconds=20))
    before = session_row(app, token).last_seen_at
    assert api.get("/api/patients").status_code == 200
    assert session_row(app, token).last_seen_at == before


@pytest.fixture
def quick_app(app: FastAPI, database_url: str) -> Any:
    """The same database, with sessions that idle out after 3 s and end after 6 s."""
    settings = Settings(
        environment="test",
        secret_key="t" * 40,
        database_url=database_url,
        sign_ins_per_client=RateLimit(1_000_000, timedelta(minutes=15)),
        session_idle_timeout=timedelta(seconds=3),
        session_absolute_timeout=timedelta(seconds=6),
        session_touch_interval=timedelta(0),
    )
    quick = create_app(settings, migrate=False)
    yield quick
    quick.state.engine.dispose()


def test_short_time_outs_in_real_time(quick_app: FastAPI) -> None:
    idle = signed_in(quick_app, "test-clinician")
    assert idle.get("/api/patients").status_code == 200
    time.sleep(3.5)
    assert idle.get("/api/patients").status_code == 401
    assert session_row(quick_app, token_of(idle)).end_reason == "idle"
    busy = signed_in(quick_app, "test-clinician")
    token = token_of(busy)
    started = time.monotonic()
    while time.monotonic() - started < 5:  # a request every second keeps it from idling
        assert busy.get("/api/patients").status_code == 200
        time.sleep(1)
    time.sleep(max(0.0, 6.5 - (time.monotonic() - started)))
    # The browser drops the cookie at its Max-Age; a copy of it is refused by the server.
    assert with_cookie(quick_app, token).get("/api/patients").status_code == 401
    assert session_row(quick_app, token).end_reason == "expired"


def test_session_settings_refuse_time_outs_that_cannot_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(InvalidInput, match="touch"):
        Settings(session_idle_timeout=timedelta(seconds=30))  # touched once a minute
    with pytest.raises(InvalidInput, match="positive"):
        Settings(session_absolute_timeout=timedelta(0))
    monkeypatch.setenv("BENZOSAFE_SESSION_IDLE_S", "900")
    monkeypatch.setenv("BENZOSAFE_SESSION_ABSOLUTE_S", "3600")
    settings = Settings.from_env()
    assert settings.session_idle_timeout == timedelta(minutes=15)
    assert settings.session_absolute_timeout == timedelta(hours=1)
    monkeypatch.setenv("BENZOSAFE_SESSION_IDLE_S", "soon")
    with pytest.raises(InvalidInput, match="BENZOSAFE_SESSION_IDLE_S"):
        Settings.from_env()
