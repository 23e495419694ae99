"""The records on SQLite and PostgreSQL: migrations, optimistic locking of taper plans, and an
audit log that the database itself keeps append-only."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from benzosafe.errors import Conflict
from benzosafe.store import accounts, records
from benzosafe.store.db import (
    current_revision,
    head_revision,
    make_engine,
    session_factory,
    writer_lock,
)
from benzosafe.store.models import AuditEventRow, PatientRow, TaperPlanRow

PLAN = {
    "steps": [{"start": "2026-11-01", "daily_mg": "2"}, {"start": "2026-11-15", "daily_mg": "1.75"}]
}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


def test_migrations_reach_head(engine: Engine) -> None:
    assert current_revision(engine) == head_revision()


def _patient(engine: Engine) -> tuple[int, int]:
    sessions = session_factory(engine)
    with sessions() as s:
        user = accounts.create_user(
            s, records.SYSTEM, f"u-{uuid.uuid4().hex[:8]}", "x" * 12, "clinician"
        )
        patient = records.create_patient(
            s,
            records.SYSTEM,
            {
                "mrn": uuid.uuid4().hex[:12],
                "family_name": "Lock",
                "given_name": "Test",
                "birth_date": "1970-01-01",
            },
        )
        s.commit()
        return user.id, patient.id


def test_concurrent_plan_edits_conflict_instead_of_losing_one(engine: Engine) -> None:
    user_id, patient_id = _patient(engine)
    actor = records.Actor(user_id, "u", "clinician")
    sessions = session_factory(engine)
    with sessions() as s:
        plan = records.save_taper_plan(s, actor, s.get_one(PatientRow, patient_id), PLAN)
        s.commit()
        plan_id, version = plan.id, plan.version
    first, second = sessions(), sessions()
    try:
        # Both writers read version 1, then both try to save a change.
        for s in (first, second):
            assert s.get_one(TaperPlanRow, plan_id).version == version
        p1 = first.get_one(PatientRow, patient_id)
        records.save_taper_plan(
            first, actor, p1, PLAN, "first", taper_plan_id=plan_id, expected_version=version
        )
        first.commit()
        p2 = second.get_one(PatientRow, patient_id)
        with pytest.raises(Conflict):
            records.save_taper_plan(
                second, actor, p2, PLAN, "second", taper_plan_id=plan_id, expected_version=version
            )
        second.rollback()
        # A writer that says which version it read, but is stale, is refused before writing.
        with pytest.raises(Conflict, match="version 2, not 1"):
            records.save_taper_plan(
                second, actor, p2, PLAN, "again", taper_plan_id=plan_id, expected_version=version
            )
        second.rollback()
    finally:
        first.close()
        second.close()
    with sessions() as s:
        saved = s.get_one(TaperPlanRow, plan_id)
        assert saved.version == 2 and [v.note for v in saved.versions] == ["", "first"]


def test_audit_log_is_append_only(engine: Engine) -> None:
    with session_factory(engine)() as s:
        records.audit(s, records.SYSTEM, "test.event", None, "x")
        s.commit()
    for statement in ("UPDATE audit_events SET what = 'changed'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement))
    with session_factory(engine)() as s:
        assert s.query(AuditEventRow).filter_by(action="test.event").count() >= 1


def test_audit_events_commit_with_their_transaction_only(engine: Engine) -> None:
    """Events are written as the transaction commits: one rolled back leaves none behind,
    not even for the next commit of the same session."""
    mark = uuid.uuid4().hex[:8]
    with session_factory(engine)() as s:
        records.audit(s, records.SYSTEM, "test.dropped", None, mark)
        s.rollback()
        records.audit(s, records.SYSTEM, "test.kept", None, mark)
        s.commit()
        shown = [e.action for e in records.audit_events(s, limit=50) if e.what == mark]
        records.audit(s, records.SYSTEM, "test.listed", None, mark)
        # the reading itself is in the log it reads
        listed = [e.action for e in records.audit_events(s, limit=50) if e.what == mark]
        s.rollback()
    with session_factory(engine)() as s:
        kept = s.query(AuditEventRow.action).filter_by(what=mark).all()
    assert [a for (a,) in kept] == ["test.kept"]
    assert shown == ["test.kept"] and listed == ["test.listed", "test.kept"]


def test_patient_age_on_a_day() -> None:
    patient = PatientRow(birth_date=date(2000, 2, 29))
    assert patient.age_on(date(2026, 2, 28)) == 25 and patient.age_on(date(2026, 3, 1)) == 26


def test_sqlite_writers_give_back_their_turn(engine: Engine) -> None:
    """Each way a write transaction ends (commit, rollback, a failed statement, a session
    closed by another thread) hands the writers' lock on; a read never takes it."""
    lock = writer_lock(engine)
    if engine.dialect.name != "sqlite":
        assert lock is None
        return
    assert lock is not None
    sessions = session_factory(engine)
    with sessions() as s:
        s.execute(text("SELECT count(*) FROM patients")).scalar_one()
        assert not lock.locked()
        records.audit(s, records.SYSTEM, "test.turn", None, "commit")
        s.commit()
    assert not lock.locked()
    with sessions() as s:
        s.execute(text("UPDATE users SET failed_sign_ins = failed_sign_ins WHERE id = 0"))
        assert lock.locked()
        s.rollback()
    assert not lock.locked()
    with sessions() as s, pytest.raises(DBAPIError):
        s.execute(text("UPDATE audit_events SET what = 'changed'"))  # refused by a trigger
    assert not lock.locked()
    open_write = sessions()
    open_write.execute(text("UPDATE users SET failed_sign_ins = failed_sign_ins WHERE id = 0"))
    closer = threading.Thread(target=open_write.close)
    closer.start()
    closer.join(30)
    assert not lock.locked()
