"""No patient data in the logs (#18), on SQLite and PostgreSQL, in the app and the real server.

Failing writes are provoked for real: the test database is given a rule that refuses one
patient (a CHECK constraint on PostgreSQL, whose error quotes the whole failing row; a trigger
on SQLite), so registering them is a database error and a 500; an MRN one character too long;
the same MRN sent by parallel clients (a unique clash whose PostgreSQL error quotes the key);
a search by name; a dose note. Everything logged, at DEBUG and from every logger (SQLAlchemy's
SQL included), is then searched for the patients' MRNs, names and birth dates.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
import pytest
from server import Server
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from support import PASSWORD, Api, in_parallel

from benzosafe.store import accounts, records
from benzosafe.store.db import make_engine, session_factory, upgrade
from benzosafe.web.clinic.app import create_app
from benzosafe.web.clinic.settings import Settings
from benzosafe.web.logs import JsonLines

REFUSED = {  # the database refuses this patient: a 500 whose error text quotes the row
    "family_name": "Xanthorrhoea",
    "given_name": "Wendeline",
    "birth_date": "1944-04-04",
}
KEPT = {"family_name": "Vexworth", "given_name": "Ottoline", "birth_date": "1933-03-03"}


def _secrets(*patients: dict[str, str]) -> list[str]:
    return [v for p in patients for k, v in p.items() if k != "birth_date"] + [
        p["birth_date"] for p in patients
    ]


def _refuse_one_patient(engine: Engine) -> None:
    """The database's own rule against REFUSED, as a clinic's extra constraint might be."""
    family = REFUSED["family_name"]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "ALTER TABLE patients ADD CONSTRAINT refuse_one "
                    f"CHECK (family_name <> '{family}')"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_one BEFORE INSERT ON patients "
                    f"WHEN NEW.family_name = '{family}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )


def _prepare(url: str) -> str:
    """A migrated database with a clinician and the rule; answers the clinician's name."""
    engine = make_engine(url)
    upgrade(engine)
    name = f"logs-{uuid.uuid4().hex[:8]}"
    with session_factory(engine)() as s:
        accounts.create_user(s, records.SYSTEM, name, PASSWORD, "clinician")
        s.commit()
    _refuse_one_patient(engine)
    engine.dispose()
    return name


def _provoke(post: Any, get: Any, refused: dict[str, str], kept: dict[str, str]) -> Any:
    """The failing writes and reads; answers the 500."""
    failed = post("/api/patients", refused)
    assert failed.status_code == 500, failed.text
    too_long = post("/api/patients", {**kept, "mrn": kept["mrn"] + "x" * 40})
    assert too_long.status_code == 422
    answers = in_parallel([partial(post, "/api/patients", kept) for _ in range(4)])
    codes = sorted(a.status_code for a in answers)
    assert codes[0] == 201 and set(codes[1:]) <= {409, 422}, [a.text for a in answers]
    patient = next(a.json()["id"] for a in answers if a.status_code == 201)
    assert get("/api/patients", params={"q": kept["given_name"]}).status_code == 200
    note = f"{kept['family_name']} felt dizzy"
    dose = {"day": "2026-11-01", "daily_dose": "1 mg/day", "note": note}
    assert post(f"/api/patients/{patient}/doses", dose).status_code == 201
    assert post(f"/api/patients/{patient}/doses", {**dose, "day": "x"}).status_code == 422
    assert get(f"/api/patients/{patient}/chart").status_code == 200
    return failed


def _request_id(failed: Any) -> str:
    """The 500's request id, which its message gives the user to quote to an administrator."""
    rid = str(failed.headers.get("X-Request-ID", ""))
    assert rid and failed.json()["error"]["message"].endswith(f"(request {rid})")
    return rid


def _patients() -> tuple[dict[str, str], dict[str, str]]:
    tag = uuid.uuid4().hex[:8].upper()
    return {**REFUSED, "mrn": f"LEAK-{tag}"}, {**KEPT, "mrn": f"KEEP-{tag}"}


def test_failing_writes_leave_no_patient_data_in_the_logs(
    empty_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = _prepare(empty_database_url)
    caplog.set_level(logging.DEBUG)  # every logger,
    caplog.set_level(logging.DEBUG, logger="sqlalchemy")  # SQL with its parameters and rows too
    app = create_app(
        Settings(environment="test", secret_key="g" * 40, database_url=empty_database_url)
    )
    try:
        api = Api(app)
        assert api.sign_in(name).status_code == 200
        refused, kept = _patients()
        failed = _provoke(api.post, api.get, refused, kept)
    finally:
        app.state.engine.dispose()
    formatter = JsonLines()
    # The server's records; the test client's own (httpx2 names the URL it asked) are not.
    server = [r for r in caplog.records if not r.name.startswith("httpx")]
    written = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in server)
    written += "\n".join(formatter.format(r) for r in server)
    assert any("INSERT INTO patients" in r.getMessage() for r in server), "no SQL captured"
    for secret in (*_secrets(refused, kept), refused["mrn"], kept["mrn"], PASSWORD):
        assert secret not in written, secret
    rid = _request_id(failed)
    errors = [
        r
        for r in caplog.records
        if getattr(r, "request_id", None) == rid and r.levelno >= logging.ERROR
    ]
    assert len(errors) == 1 and errors[0].exc_info is None
    line = json.loads(formatter.format(errors[0]))
    assert line["route"] == "/api/patients" and line["status"] == 500
    assert "IntegrityError" in line["error"] and line["where"]


def test_database_errors_name_no_values_and_the_formatter_drops_exception_text(
    empty_database_url: str,
) -> None:
    _prepare(empty_database_url)
    refused, _ = _patients()
    engine = make_engine(empty_database_url)
    try:
        with pytest.raises(DBAPIError) as failed, engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO patients (mrn, family_name, given_name, birth_date, status, "
                    "created_at) VALUES (:mrn, :family_name, :given_name, :birth_date, 'intake', "
                    "CURRENT_TIMESTAMP)"
                ),
                refused,
            )
    finally:
        engine.dispose()
    # The engine hides the values bound to the statement...
    said = str(failed.value)
    assert "[SQL parameters hidden due to hide_parameters=True]" in said
    if empty_database_url.startswith("sqlite"):
        assert refused["mrn"] not in said
    else:  # ...but PostgreSQL's own message quotes the failing row: the formatter stops that.
        assert f"Failing row contains (1, {refused['mrn']}, {refused['family_name']}" in said
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    library = logging.getLogger("some.library")
    library.addHandler(handler)
    try:
        try:
            raise RuntimeError(f"wrapped {refused['family_name']}") from failed.value
        except RuntimeError:
            library.exception("Exception in ASGI application")
    finally:
        library.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["message"] == "Exception in ASGI application"
    assert line["error"].startswith("RuntimeError <- IntegrityError") and line["where"]
    for secret in (*_secrets(refused), refused["mrn"]):
        assert secret not in stream.getvalue()


def test_the_real_server_logs_json_lines_without_patient_data(
    empty_database_url: str, tmp_path: Path
) -> None:
    name = _prepare(empty_database_url)
    server = Server(empty_database_url, tmp_path)
    try:
        client = httpx2.Client(base_url=server.url, timeout=30)
        token = client.get("/api/session").json()["csrf_token"]
        signed = client.post(
            "/api/session",
            json={"username": name, "password": PASSWORD},
            headers={"X-CSRF-Token": token},
        )
        token = signed.json()["csrf_token"]

        def post(path: str, body: Any) -> Any:
            return client.post(path, json=body, headers={"X-CSRF-Token": token})

        refused, kept = _patients()
        try:
            failed = _provoke(post, client.get, refused, kept)
        finally:
            client.close()
    finally:
        log = server.stop()
    for secret in (*_secrets(refused, kept), refused["mrn"], kept["mrn"], PASSWORD):
        assert secret not in log, secret
    rid = _request_id(failed)
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    others = [line for line in log.splitlines() if line.strip() and not line.startswith("{")]
    assert all(line.startswith("benzosafe on http://") for line in others), others
    failed = [line for line in lines if line.get("request_id") == rid]
    assert [line["status"] for line in failed] == [500, 500]  # the error, then the request
    assert "IntegrityError" in failed[0]["error"]
    assert any(line.get("route") == "/api/patients/{patient_id}/chart" for line in lines)
