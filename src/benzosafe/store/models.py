"""The tables of the treatment programme as SQLAlchemy 2 typed models, one ``...Row`` class each.

The ``Row`` suffix keeps a stored row apart from the clinical value of the same name
(``PatientRow`` and the core's ``Patient``), so no import needs an alias. Clinical payloads
(check reports, taper plans, assessment answers, triage) are stored as JSON exactly as the
clinical core returned them, so a record shows what the clinician saw.
``TaperPlanRow.version`` is an optimistic lock: a second writer with a stale version gets a
conflict instead of silently overwriting. A patient has at most one active taper plan, held by
a partial unique index (``status = 'active'``) on SQLite and PostgreSQL alike; an ended plan
keeps when, by whom and why it ended. ``audit_events`` is append-only (database
triggers refuse UPDATE and DELETE; see the initial migration). ``sign_in_attempts`` holds
the sign-in rate limit's counters; ``user_sessions`` the web app's signed-in sessions. The
column definitions are the one source of the field limits (``String(n)``, or
``info={"max_length": n}`` on a ``Text``): see :mod:`benzosafe.store.limits`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Computed,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("admin", "clinician", "admissions")
PATIENT_STATUSES = ("intake", "admitted", "referred", "discharged")
TAPER_PLAN_STATUSES = ("active", "ended")
# A clinician's note (a dose record's, a taper plan version's): ``Text`` in the database, this
# long at most (:mod:`benzosafe.store.limits` reads it from the column's ``info``).
NOTE_MAX = 500
# The patient search's text: names and MRN in lower case, apart (``|``), kept by the database.
PATIENT_SEARCH_TEXT = "lower(family_name) || '|' || lower(given_name) || '|' || lower(mrn)"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    failed_sign_ins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SignInAttemptRow(Base):
    """Sign-in attempts counted for one key (``account:NAME`` or ``client:ADDRESS``) in a
    fixed window: the sign-in rate limit, shared by every worker through the database."""

    __tablename__ = "sign_in_attempts"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    window_start: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer)


class UserSessionRow(Base):
    """A signed-in session of the web app. The cookie carries a random token; only its
    SHA-256 is stored, so a copy of this table opens no session. An ended session keeps its
    row, with when and why it ended (sign-out, time-out, deactivation, password change)."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    end_reason: Mapped[str | None] = mapped_column(String(32), default=None)


class PatientRow(Base):
    __tablename__ = "patients"
    __table_args__ = (Index("ix_patients_search", "family_name", "given_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    mrn: Mapped[str] = mapped_column(String(32), unique=True)
    family_name: Mapped[str] = mapped_column(String(128))
    given_name: Mapped[str] = mapped_column(String(128))
    birth_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="intake")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What PostgreSQL's patient search compares: one stored lower-case column, not lower() of
    # three columns on every row of every search (5 times the time). Written by the database
    # alone, never loaded with the row (see migration 0005).
    search_text: Mapped[str] = mapped_column(
        Text, Computed(PATIENT_SEARCH_TEXT, persisted=True), deferred=True
    )

    @property
    def name(self) -> str:
        return f"{self.family_name}, {self.given_name}"

    def age_on(self, day: date) -> int:
        """Age in whole years on ``day``."""
        birth = self.birth_date
        return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


class IntakeRow(Base):
    __tablename__ = "intakes"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    answers: Mapped[dict[str, Any]]
    recommendation: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    decision: Mapped[str | None] = mapped_column(String(16), default=None)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)


class PrescriptionRow(Base):
    __tablename__ = "prescriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    order: Mapped[dict[str, Any]]
    patient_facts: Mapped[dict[str, Any]]
    report: Mapped[dict[str, Any]]
    worst_severity: Mapped[str | None] = mapped_column(String(16), default=None)


class TaperPlanRow(Base):
    __tablename__ = "taper_plans"
    __table_args__ = (
        Index(
            "uq_taper_plans_one_active",
            "patient_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    ended_by: Mapped[int | None] = mapped_column(Integer, default=None)  # a user id
    end_reason: Mapped[str | None] = mapped_column(Text, default=None)
    versions: Mapped[list[TaperPlanVersionRow]] = relationship(
        order_by="TaperPlanVersionRow.number", back_populates="taper_plan"
    )

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class TaperPlanVersionRow(Base):
    __tablename__ = "taper_plan_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    taper_plan_id: Mapped[int] = mapped_column(ForeignKey("taper_plans.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    plan: Mapped[dict[str, Any]]
    note: Mapped[str] = mapped_column(Text, default="", info={"max_length": NOTE_MAX})
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    taper_plan: Mapped[TaperPlanRow] = relationship(back_populates="versions")


class DoseRecordRow(Base):
    """A dose the patient took (or a day held) against the plan, for the chart."""

    __tablename__ = "dose_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    day: Mapped[date] = mapped_column(Date)
    daily_mg: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="", info={"max_length": NOTE_MAX})
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssessmentRow(Base):
    __tablename__ = "assessments"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    instrument: Mapped[str] = mapped_column(String(32))
    answers: Mapped[dict[str, Any]]
    score: Mapped[dict[str, Any]]
    total: Mapped[int] = mapped_column(Integer)
    taken_at: Mapped[datetime]
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class SideEffectReportRow(Base):
    __tablename__ = "side_effect_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    report: Mapped[dict[str, Any]]
    triage: Mapped[dict[str, Any]]
    level: Mapped[str] = mapped_column(String(32))
    reported_at: Mapped[datetime]
    recorded_by: Mapped[int] = mapped_column(ForeignKey("users.id"))


class AuditEventRow(Base):
    """Who did what, when, to which patient's record. Append-only."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, default=None)
    username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(48))
    patient_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    what: Mapped[str] = mapped_column(Text, default="")
