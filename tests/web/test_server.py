"""The real server process: ``benzosafe serve``, ``db upgrade``, ``user add``; a SIGKILL in the
middle of a stream of writes loses no committed record; the logs hold no patient data."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import uuid
from pathlib import Path

from server import BENZOSAFE, Server, signed_in
from sqlalchemy import inspect, select

from benzosafe.store import accounts, records
from benzosafe.store.db import head_revision, make_engine, session_factory
from benzosafe.store.models import DoseRecordRow


def cli(*args: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BENZOSAFE), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )


def test_db_upgrade_and_user_add(empty_database_url: str) -> None:
    env = {"BENZOSAFE_DATABASE_URL": empty_database_url}
    result = cli("db", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    assert f"at revision {head_revision()}" in result.stdout
    add = ("user", "add", "dr.who", "--role", "clinician", "--password-stdin")
    result = cli(*add, env=env, stdin="long enough pw\n")
    assert result.returncode == 0 and "added user dr.who (clinician)" in result.stdout
    result = cli(*add, env=env, stdin="long enough pw\n")
    assert (
        result.returncode == 2 and "is taken" in result.stderr and "Traceback" not in result.stderr
    )
    result = cli(
        "user", "add", "x", "--role", "clinician", "--password-stdin", env=env, stdin="short\n"
    )
    assert result.returncode == 2 and "password: must be at least 12 characters" in result.stderr
    result = cli("user", "add", "x", "--role", "nurse", "--password-stdin", env=env, stdin="")
    assert result.returncode == 2
    # the model's limit, on both databases: a clear error, not a database error or a cut name
    long_name = ("--display-name", "d" * 129)
    result = cli(*add[:2], "dr.long", *add[3:], *long_name, env=env, stdin="long enough pw\n")
    assert result.returncode == 2 and "display_name: at most 128 characters" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_failed_migration_changes_nothing(empty_database_url: str) -> None:
    """A database holding a table that the last migration creates: the upgrade fails on it
    after the earlier migrations ran; all of them are undone (on SQLite too, where DDL
    commits statement by statement unless a transaction is opened), the command says so,
    and once the obstacle is gone the upgrade runs from the start."""
    env = {"BENZOSAFE_DATABASE_URL": empty_database_url}
    engine = make_engine(empty_database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE user_sessions (x INTEGER)")
    result = cli("db", "upgrade", env=env)
    assert result.returncode == 2, result.stderr
    assert "the migration to " + head_revision() in result.stderr
    assert "nothing was changed (revision still none (empty database))" in result.stderr
    assert "user_sessions" in result.stderr and "Traceback" not in result.stderr
    assert inspect(engine).get_table_names() == ["user_sessions"]
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE user_sessions")
    result = cli("db", "upgrade", env=env)
    assert result.returncode == 0 and f"at revision {head_revision()}" in result.stdout
    tables = set(inspect(engine).get_table_names())
    assert {"patients", "user_sessions", "alembic_version"} <= tables
    engine.dispose()


def test_serve_refuses_the_default_secret_outside_development(tmp_path: Path) -> None:
    env = {
        "BENZOSAFE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
        "BENZOSAFE_ENV": "production",
    }
    result = cli("serve", "--port", "1", env=env)
    assert result.returncode == 2
    assert "BENZOSAFE_SECRET_KEY: the default secret is refused" in result.stderr
    assert "Traceback" not in result.stderr


def _setup(database_url: str) -> tuple[str, int]:
    engine = make_engine(database_url)
    with session_factory(engine)() as s:
        name = f"kill-{uuid.uuid4().hex[:8]}"
        accounts.create_user(s, records.SYSTEM, name, "killtest-password", "clinician")
        patient = records.create_patient(
            s,
            records.SYSTEM,
            {
                "mrn": f"SECRET-MRN-{uuid.uuid4().hex[:6]}",
                "family_name": "Zebulonique",
                "given_name": "Quillfeather",
                "birth_date": "1950-05-05",
            },
        )
        s.commit()
        patient_id = patient.id
    engine.dispose()
    return name, patient_id


def test_sigkill_mid_stream_loses_no_committed_record(database_url: str, tmp_path: Path) -> None:
    username, patient_id = _setup(database_url)
    server = Server(database_url, tmp_path)
    acknowledged: list[int] = []
    lock = threading.Lock()
    stop = threading.Event()
    failures: list[str] = []

    def writer() -> None:
        try:
            client, token = signed_in(server.url, username, "killtest-password")
        except Exception as exc:
            failures.append(repr(exc))
            return
        try:
            for n in range(2000):  # bounded; the server is killed long before
                if stop.is_set():
                    return
                try:
                    response = client.post(
                        f"/api/patients/{patient_id}/doses",
                        json={"day": "2026-11-01", "daily_dose": "1 mg/day", "note": f"w{n}"},
                        headers={"X-CSRF-Token": token},
                    )
                except Exception as exc:  # the connection dies with the server
                    if not stop.is_set():
                        failures.append(repr(exc))
                    return
                if response.status_code != 201:
                    failures.append(response.text)
                    return
                with lock:
                    acknowledged.append(int(response.json()["id"]))
        finally:
            client.close()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    while True:
        with lock:
            if len(acknowledged) >= 60:
                break
        if not any(t.is_alive() for t in threads):
            break
        threading.Event().wait(0.05)
    server.kill()  # the server and its workers, mid-stream: writers are still sending
    stop.set()
    for t in threads:
        t.join(30)
    server.process.wait(10)
    server.stop()
    assert not failures and len(acknowledged) >= 60, failures
    engine = make_engine(database_url)
    with session_factory(engine)() as s:
        stored = set(
            s.scalars(select(DoseRecordRow.id).where(DoseRecordRow.patient_id == patient_id))
        )
    engine.dispose()
    assert set(acknowledged) <= stored, "a write answered 201 was lost"
    if database_url.startswith("sqlite"):
        path = database_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_logs_hold_no_patient_data(database_url: str, tmp_path: Path) -> None:
    username, patient_id = _setup(database_url)
    server = Server(database_url, tmp_path)
    try:
        client, token = signed_in(server.url, username, "killtest-password")
        try:
            assert client.get("/api/patients", params={"q": "Zebulonique"}).status_code == 200
            assert client.get(f"/api/patients/{patient_id}/chart").status_code == 200
            client.post(
                f"/api/patients/{patient_id}/doses",
                json={"day": "x"},
                headers={"X-CSRF-Token": token},
            )
            page = client.get(
                "/patients", params={"q": "Quillfeather"}, headers={"accept": "text/html"}
            )
            assert "Quillfeather" in page.text
        finally:
            client.close()
    finally:
        log = server.stop()
    assert "GET /api/patients/{patient_id}/chart 200" in log
    for secret in ("Zebulonique", "Quillfeather", "SECRET-MRN", "1950-05-05", "killtest-password"):
        assert secret not in log
    assert f"/{patient_id}/" not in log
