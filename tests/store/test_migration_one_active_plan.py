"""Migration 0003_one_active_plan on SQLite and PostgreSQL over a database made before it,
where patients have several active taper plans: the newest stays active (latest start, then
highest id on a tie), the others end with a reason naming the migration and the plan kept,
each with an audit event; afterwards the database itself refuses a second active plan; and
it downgrades."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from benzosafe.store.db import _alembic_config, make_engine, upgrade

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path, postgres_base: str) -> Iterator[Engine]:
    """An empty database of this test's own, migrated to 0002 (before one active plan)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'before.db'}"
    else:
        schema = request.getfixturevalue("postgres_schema")
        url = f"{postgres_base}?options=-csearch_path%3D{schema}"
    engine = make_engine(url)
    upgrade(engine, "0002")
    yield engine
    engine.dispose()


def _insert(engine: Engine) -> None:
    def at(day: int) -> datetime:
        return T0.replace(day=day)

    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, username, display_name, password_hash, role, active, "
                "failed_sign_ins, created_at) VALUES (1, 'lee', 'Dr Lee', 'x', 'clinician', "
                ":yes, 0, :at)"
            ),
            {"yes": True, "at": at(1)},
        )
        for patient in (1, 2, 3):
            conn.execute(
                text(
                    "INSERT INTO patients (id, mrn, family_name, given_name, birth_date, "
                    "status, created_at) VALUES (:id, :mrn, 'Old', 'Data', :born, 'admitted', "
                    ":at)"
                ),
                {"id": patient, "mrn": f"M-{patient}", "born": T0.date(), "at": at(1)},
            )
        # Patient 1: three active plans, the newest (id 12) not the highest id.
        # Patient 2: two active plans started at the same moment: the higher id (22) stays.
        # Patient 3: one active plan, untouched.
        plans = [(10, 1, at(2)), (12, 1, at(9)), (13, 1, at(5)), (21, 2, at(3)), (22, 2, at(3)),
                 (30, 3, at(4))]  # fmt: skip
        for plan_id, patient, started in plans:
            conn.execute(
                text(
                    "INSERT INTO taper_plans (id, patient_id, status, version, created_at, "
                    "updated_at) VALUES (:id, :patient, 'active', 1, :at, :at)"
                ),
                {"id": plan_id, "patient": patient, "at": started},
            )


def _plans(engine: Engine) -> dict[int, tuple[str, int, str | None]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, status, version, end_reason FROM taper_plans ORDER BY id")
        ).all()
    return {row.id: (row.status, row.version, row.end_reason) for row in rows}


def test_migration_keeps_the_newest_active_plan(engine: Engine) -> None:
    _insert(engine)
    upgrade(engine)
    plans = _plans(engine)
    assert {pid for pid, (status, _, _) in plans.items() if status == "active"} == {12, 22, 30}
    for ended, kept, count in ((10, 12, 3), (13, 12, 3), (21, 22, 2)):
        status, version, reason = plans[ended]
        assert status == "ended" and version == 2, plans[ended]
        assert reason is not None and reason.startswith(
            "ended by database migration 0003_one_active_plan on "
        )
        assert f"had {count} active plans and may have one; plan {kept}, the newest" in reason
    assert plans[30] == ("active", 1, None) and plans[12] == ("active", 1, None)
    with engine.connect() as conn:
        events = conn.execute(
            text(
                "SELECT patient_id, what FROM audit_events WHERE action = 'taper-plan.end' "
                "ORDER BY id"
            )
        ).all()
    assert sorted((e.patient_id, e.what.split(":")[0]) for e in events) == [
        (1, "taper plan 10"),
        (1, "taper plan 13"),
        (2, "taper plan 21"),
    ]

    # The database itself now refuses a second active plan, and still takes an ended one.
    insert = (
        "INSERT INTO taper_plans (id, patient_id, status, version, created_at, updated_at) "
        "VALUES (:id, 3, :status, 1, :at, :at)"
    )
    with engine.begin() as conn:
        conn.execute(text(insert), {"id": 31, "status": "ended", "at": T0})
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text(insert), {"id": 32, "status": "active", "at": T0})

    # Down and up again: the ended plans stay ended, nothing is ended twice.
    with engine.begin() as conn:
        command.downgrade(_alembic_config(conn), "0002")
    upgrade(engine)
    assert {pid: status for pid, (status, _, _) in _plans(engine).items()} == {
        10: "ended", 12: "active", 13: "ended", 21: "ended", 22: "active", 30: "active",
        31: "ended",
    }  # fmt: skip
