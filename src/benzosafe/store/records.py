"""The record operations of the treatment programme, each one audited.

A :class:`Records` is bound to one database session and one :class:`Actor` (the signed-in
user). Every method that reads or writes a patient's data adds an :class:`AuditEventRow`
to the same transaction, so the event and the change commit or fail together; the caller
(one web request, one CLI command) commits. Role checks belong to the faces; this module
keeps the data consistent: unknown ids are :class:`NotFound`, a stale taper-plan version is
a :class:`Conflict`. Users and signing in live in :mod:`benzosafe.store.accounts`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import String, bindparam, func, insert, or_, select, update
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.orm.exc import StaleDataError

from benzosafe.errors import Conflict, InvalidInput, NotFound
from benzosafe.store.db import SQLITE_LOWER, is_conflict
from benzosafe.store.limits import check_text, max_length
from benzosafe.store.models import (
    PATIENT_STATUSES,
    AssessmentRow,
    AuditEventRow,
    DoseRecordRow,
    IntakeRow,
    PatientRow,
    PrescriptionRow,
    SideEffectReportRow,
    TaperPlanRow,
    TaperPlanVersionRow,
    utcnow,
)

_Row = TypeVar(
    "_Row", IntakeRow, PrescriptionRow, DoseRecordRow, AssessmentRow, SideEffectReportRow
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is acting: the signed-in user (or ``system`` for the command line)."""

    user_id: int | None
    username: str
    role: str


SYSTEM = Actor(None, "system", "admin")


# ----------------------------------------------------------------------------- audit


_PENDING_AUDIT = "benzosafe.pending_audit"
_AUDIT_TABLE = AuditEventRow.metadata.tables[AuditEventRow.__tablename__]


def audit(
    session: Session, actor: Actor, action: str, patient_id: int | None, what: str = ""
) -> None:
    """Append one audit event to the current transaction.

    The event is inserted as the transaction commits (its last write), not at the next
    query: a request that only reads then holds SQLite's one write lock for that insert alone
    rather than for all its reading, so parallel requests do not queue behind each other. It
    still commits with the change, or not at all.
    """
    event = {
        "at": utcnow(),
        "user_id": actor.user_id,
        "username": check_text(AuditEventRow.username, actor.username, "audit_events.username"),
        "action": check_text(AuditEventRow.action, action, "audit_events.action"),
        "patient_id": patient_id,
        "what": what,
    }
    if not session.in_transaction():
        session.begin()  # so that a rollback before any query still drops the event
    session.info.setdefault(_PENDING_AUDIT, []).append(event)


def _write_pending_audit(session: Session) -> None:
    # One plain INSERT (an executemany for several events), not ORM objects through the
    # unit of work: the log is append-only and nothing reads the events back in the request.
    events = session.info.pop(_PENDING_AUDIT, [])
    if events:
        session.execute(insert(_AUDIT_TABLE), events)


@sa_event.listens_for(Session, "before_commit")
def _audit_at_commit(session: Session) -> None:
    _write_pending_audit(session)


@sa_event.listens_for(Session, "after_transaction_end")
def _audit_dropped_with_transaction(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # rolled back or closed: its events go with it
        session.info.pop(_PENDING_AUDIT, None)


def audit_events(
    session: Session, *, patient_id: int | None = None, limit: int = 200
) -> Sequence[AuditEventRow]:
    _write_pending_audit(session)  # this reading of the log is in the log it shows
    query = select(AuditEventRow).order_by(AuditEventRow.id.desc()).limit(limit)
    if patient_id is not None:
        query = query.where(AuditEventRow.patient_id == patient_id)
    return session.scalars(query).all()


# ----------------------------------------------------------------------------- patients


def _text(value: object, column: Any, field: str) -> str:
    """A required text field, stripped, within its column's limit."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field, f"is required: 1-{max_length(column)} characters")
    return check_text(column, value.strip(), field)


def create_patient(session: Session, actor: Actor, data: dict[str, Any]) -> PatientRow:
    """Register a patient from ``{mrn, family_name, given_name, birth_date}``."""
    allowed = ("mrn", "family_name", "given_name", "birth_date")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInput(f"patient.{unknown[0]}", "unknown field", allowed)
    mrn = _text(data.get("mrn"), PatientRow.mrn, "patient.mrn")
    try:
        birth = date.fromisoformat(str(data.get("birth_date", "")))
    except ValueError as exc:
        raise InvalidInput("patient.birth_date", "is required: a date YYYY-MM-DD") from exc
    if not date(1900, 1, 1) <= birth <= date.today():
        raise InvalidInput("patient.birth_date", "must be between 1900-01-01 and today")
    if session.scalar(select(PatientRow.id).where(PatientRow.mrn == mrn)) is not None:
        raise InvalidInput("patient.mrn", f"a patient with MRN {mrn!r} already exists")
    patient = PatientRow(
        mrn=mrn,
        family_name=_text(data.get("family_name"), PatientRow.family_name, "patient.family_name"),
        given_name=_text(data.get("given_name"), PatientRow.given_name, "patient.given_name"),
        birth_date=birth,
        status="intake",
    )
    session.add(patient)
    session.flush()
    audit(session, actor, "patient.create", patient.id, "")
    return patient


# Search text with one of these is compared column by column: in the one search column a
# wildcard or the separator could match across two fields.
_ACROSS_FIELDS = frozenset("%_|")


def _patient_search(dialect: str, by_column: bool, beyond_ascii: bool) -> Any:
    """The condition "name or MRN contains ``:like``" (``%text%``, lower case), letter case
    aside. SQLite's LIKE ignores the case of ASCII letters only: an ASCII text is compared
    with the columns as they are (a quarter of the time of a call per row and column), one
    beyond ASCII ("ødegaard") with each column lowered by Python (``SQLITE_LOWER``).
    PostgreSQL compares its stored lower-case ``search_text``, unless ``by_column`` (the
    ``lower()`` of each column, for a text that could match across two fields)."""
    like: Any = bindparam("like", type_=String())
    columns = (PatientRow.family_name, PatientRow.given_name, PatientRow.mrn)
    if dialect == "sqlite":
        if beyond_ascii:
            return or_(*(getattr(func, SQLITE_LOWER)(c).like(like) for c in columns))
        return or_(*(column.like(like) for column in columns))
    if not by_column:
        return PatientRow.search_text.like(like)
    return or_(*(func.lower(column).like(like) for column in columns))


@functools.cache
def _search_statements(
    dialect: str, searching: bool, by_column: bool = False, beyond_ascii: bool = False
) -> tuple[Any, Any]:
    """The patient list's statements, a page and its count, built once per database kind
    and kind of text (building them cost more CPU than running them): with ``:like`` when
    ``searching``, and ``:offset`` and ``:limit``."""
    page = (
        select(PatientRow)
        .order_by(PatientRow.family_name, PatientRow.given_name, PatientRow.id)
        .offset(bindparam("offset"))
        .limit(bindparam("limit"))
    )
    count = select(func.count()).select_from(PatientRow)
    if searching:
        condition = _patient_search(dialect, by_column, beyond_ascii)
        page, count = page.where(condition), count.where(condition)
    return page, count


def _search(session: Session, text: str) -> tuple[Any, Any, dict[str, Any]]:
    text = text.strip().lower()
    dialect = session.get_bind().dialect.name
    page, count = _search_statements(
        dialect, bool(text), not _ACROSS_FIELDS.isdisjoint(text), not text.isascii()
    )
    return page, count, ({"like": f"%{text}%"} if text else {})


def search_patients(
    session: Session, actor: Actor, text: str = "", limit: int = 50, offset: int = 0
) -> Sequence[PatientRow]:
    """Patients whose name or MRN contains ``text`` (all when empty), by name; ``limit`` of
    them from the ``offset``-th."""
    query, _, params = _search(session, text)
    found = session.scalars(query, {**params, "offset": max(offset, 0), "limit": limit}).all()
    # One event per search: it names the patients shown, not the search text (a name).
    shown = ",".join(str(p.id) for p in found[:50])
    audit(session, actor, "patient.search", None, f"{len(found)} shown: {shown}")
    return found


def count_patients(session: Session, text: str = "") -> int:
    """How many patients the search finds (for paging; names no patient)."""
    _, query, params = _search(session, text)
    return session.scalar(query, params) or 0


def get_patient(session: Session, actor: Actor, patient_id: int, action: str) -> PatientRow:
    """The patient, with an audit event naming what was opened (``action``)."""
    patient = session.get(PatientRow, patient_id)
    if patient is None:
        raise NotFound(f"patient {patient_id} not found")
    audit(session, actor, action, patient_id, "")
    return patient


def set_patient_status(session: Session, actor: Actor, patient: PatientRow, status: str) -> None:
    if status not in PATIENT_STATUSES:
        raise InvalidInput("status", f"unknown status {status!r}", PATIENT_STATUSES)
    audit(session, actor, "patient.status", patient.id, f"{patient.status} -> {status}")
    patient.status = status


# ----------------------------------------------------------------------------- clinical records


def _added(session: Session, actor: Actor, row: _Row, action: str, what: str) -> _Row:
    """Insert ``row`` and its audit event (``what`` may name ``{id}``) in this transaction."""
    session.add(row)
    session.flush()
    audit(session, actor, action, getattr(row, "patient_id", None), what.format(id=row.id))
    return row


def add_intake(
    session: Session,
    actor: Actor,
    patient: PatientRow,
    answers: dict[str, Any],
    recommendation: dict[str, Any] | None,
) -> IntakeRow:
    intake = IntakeRow(
        patient_id=patient.id,
        recorded_by=actor.user_id,
        answers=answers,
        recommendation=recommendation,
    )
    return _added(session, actor, intake, "intake.create", "intake {id}")


def decide_intake(session: Session, actor: Actor, intake_id: int, decision: str) -> IntakeRow:
    """Admit or refer after an intake; the patient's status follows."""
    if decision not in ("admit", "refer"):
        raise InvalidInput("decision", f"unknown decision {decision!r}", ("admit", "refer"))
    intake = session.get(IntakeRow, intake_id)
    if intake is None:
        raise NotFound(f"intake {intake_id} not found")
    if intake.decision is not None:
        raise Conflict(f"intake {intake_id} was already decided: {intake.decision}")
    # Decided in one guarded statement, so two parallel decisions cannot both win.
    decided = session.execute(
        update(IntakeRow)
        .where(IntakeRow.id == intake_id, IntakeRow.decision.is_(None))
        .values(decision=decision, decided_by=actor.user_id, decided_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if decided.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"intake {intake_id} was decided by someone else at the same moment")
    session.expire(intake, ["decision", "decided_by", "decided_at"])
    patient = session.get_one(PatientRow, intake.patient_id)
    set_patient_status(session, actor, patient, "admitted" if decision == "admit" else "referred")
    audit(session, actor, f"intake.{decision}", patient.id, f"intake {intake_id}")
    return intake


def add_prescription(
    session: Session,
    actor: Actor,
    patient: PatientRow,
    order: dict[str, Any],
    patient_facts: dict[str, Any],
    report: dict[str, Any],
    worst: str | None,
) -> PrescriptionRow:
    row = PrescriptionRow(
        patient_id=patient.id,
        recorded_by=actor.user_id,
        order=order,
        patient_facts=patient_facts,
        report=report,
        worst_severity=worst,
    )
    return _added(session, actor, row, "prescription.create", "prescription {id}")


def active_taper_plan(session: Session, patient_id: int) -> TaperPlanRow | None:
    """The patient's active taper plan (there is at most one), or None."""
    return session.scalar(
        select(TaperPlanRow).where(
            TaperPlanRow.patient_id == patient_id, TaperPlanRow.status == "active"
        )
    )


def _start_taper_plan(
    session: Session, actor: Actor, patient: PatientRow, replaces: int | None, by: str
) -> TaperPlanRow:
    """A new active plan row; the plan the writer saw active (``replaces``) ends, naming it."""
    active = session.scalar(
        select(TaperPlanRow.id).where(
            TaperPlanRow.patient_id == patient.id, TaperPlanRow.status == "active"
        )
    )
    if active != replaces:
        if replaces is None:
            raise Conflict(
                f"the patient already has an active taper plan ({active}): to end it and start "
                f"this one, say that this plan replaces plan {active}"
            )
        raise Conflict(
            f"taper plan {replaces} is not the patient's active plan "
            f"({'none is active' if active is None else f'plan {active} is'}): someone changed "
            "the plans first; reload the patient and review them"
        )
    now = utcnow()
    end_old = (
        update(TaperPlanRow)
        .where(
            TaperPlanRow.id == replaces,
            TaperPlanRow.patient_id == patient.id,
            TaperPlanRow.status == "active",
        )
        .execution_options(synchronize_session=False)
    )
    row = TaperPlanRow(patient_id=patient.id, status="active", created_at=now, updated_at=now)
    try:
        if replaces is not None:
            # Guarded by its WHERE: of two writers replacing the same plan, one ends it.
            ended = session.execute(
                end_old.values(
                    status="ended",
                    ended_at=now,
                    ended_by=actor.user_id,
                    version=TaperPlanRow.version + 1,
                    updated_at=now,
                )
            )
            if ended.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict(
                    f"taper plan {replaces} was ended by someone else at the same moment; "
                    "nothing was saved: reload the patient and review the plan now active"
                )
        session.add(row)
        session.flush()  # the one-active index refuses a second plan started in parallel
    except IntegrityError as exc:
        if not is_conflict(exc):
            raise
        raise Conflict(
            "another taper plan was started for this patient at the same moment; nothing was "
            "saved: reload the patient and review the plan now active"
        ) from exc
    if replaces is not None:
        reason = f"replaced by plan {row.id} on {now.date().isoformat()} by {by}"
        session.execute(
            update(TaperPlanRow)
            .where(TaperPlanRow.id == replaces)
            .values(end_reason=reason)
            .execution_options(synchronize_session=False)
        )
        old = session.identity_map.get(session.identity_key(TaperPlanRow, replaces))
        if old is not None:
            session.expire(old)
        audit(session, actor, "taper-plan.end", patient.id, f"taper plan {replaces}: {reason}")
    return row


def refuse_if_ended(row: TaperPlanRow) -> None:
    """An ended plan cannot change: :class:`Conflict`, saying why it ended."""
    if row.status != "active":
        raise Conflict(
            f"taper plan {row.id} has ended ({row.end_reason or row.status}): "
            "change the patient's active plan instead"
        )


def save_taper_plan(
    session: Session,
    actor: Actor,
    patient: PatientRow,
    plan: dict[str, Any],
    note: str = "",
    *,
    taper_plan_id: int | None = None,
    expected_version: int | None = None,
    replaces: int | None = None,
    by: str | None = None,
) -> TaperPlanRow:
    """A new plan (no id) or a new version of an existing one.

    A new plan is the patient's one active plan: the writer names the active plan they saw
    (``replaces``; None when they saw none), which ends with the reason "replaced by plan N on
    DATE by ``by``" (the actor's user name when not given); another active plan than the one
    named, or a plan started at the same moment, is a :class:`Conflict`. Changing an existing
    plan needs ``expected_version``, the version the writer read; a different current version
    means someone else saved first, and an ended plan cannot change: :class:`Conflict`.
    """
    now = utcnow()
    if taper_plan_id is None:
        row = _start_taper_plan(session, actor, patient, replaces, by or actor.username)
        number = 1
    else:
        found = session.get(TaperPlanRow, taper_plan_id)
        if found is None or found.patient_id != patient.id:
            raise NotFound(f"taper plan {taper_plan_id} not found for this patient")
        row = found
        if expected_version is None:
            raise InvalidInput("expected_version", "is required to change a saved plan")
        refuse_if_ended(row)
        if row.version != expected_version:
            raise Conflict(
                f"taper plan {row.id} is at version {row.version}, not {expected_version}: "
                "someone saved a change first; reload it and apply yours again"
            )
        # Read the versions before changing the row: their lazy load would flush the change
        # early, outside the check below.
        number = len(row.versions) + 1
        row.updated_at = now
        try:
            session.flush()  # bumps the version; a concurrent writer (or ending) fails here
        except StaleDataError as exc:
            # Nothing of the session may be read now (it must roll back): the id was given.
            raise Conflict(
                f"taper plan {taper_plan_id} was changed by someone else while you edited it: "
                "reload it and apply your change again"
            ) from exc
    row.versions.append(
        TaperPlanVersionRow(number=number, plan=plan, note=note, recorded_by=actor.user_id)
    )
    session.flush()
    audit(session, actor, "taper-plan.save", patient.id, f"taper plan {row.id} version {number}")
    return row


def taper_plans(session: Session, patient_id: int) -> Sequence[TaperPlanRow]:
    return session.scalars(
        select(TaperPlanRow).where(TaperPlanRow.patient_id == patient_id).order_by(TaperPlanRow.id)
    ).all()


def get_taper_plan(session: Session, actor: Actor, taper_plan_id: int) -> TaperPlanRow:
    row = session.get(TaperPlanRow, taper_plan_id)
    if row is None:
        raise NotFound(f"taper plan {taper_plan_id} not found")
    audit(session, actor, "taper-plan.read", row.patient_id, f"taper plan {row.id}")
    return row


def add_dose_record(
    session: Session, actor: Actor, patient: PatientRow, day: date, daily_mg: str, note: str
) -> DoseRecordRow:
    row = DoseRecordRow(
        patient_id=patient.id, day=day, daily_mg=daily_mg, note=note, recorded_by=actor.user_id
    )
    return _added(session, actor, row, "dose.create", "dose record {id}")


def add_assessment(
    session: Session,
    actor: Actor,
    patient: PatientRow,
    instrument: str,
    answers: dict[str, Any],
    score: dict[str, Any],
    total: int,
    taken_at: datetime,
) -> AssessmentRow:
    row = AssessmentRow(
        patient_id=patient.id,
        instrument=instrument,
        answers=answers,
        score=score,
        total=total,
        taken_at=taken_at,
        recorded_by=actor.user_id,
    )
    return _added(session, actor, row, "assessment.create", f"assessment {{id}} {instrument}")


def add_side_effect(
    session: Session,
    actor: Actor,
    patient: PatientRow,
    report: dict[str, Any],
    triage: dict[str, Any],
    level: str,
    reported_at: datetime,
) -> SideEffectReportRow:
    row = SideEffectReportRow(
        patient_id=patient.id,
        report=report,
        triage=triage,
        level=level,
        reported_at=reported_at,
        recorded_by=actor.user_id,
    )
    return _added(session, actor, row, "side-effect.create", "side-effect report {id}")


@dataclass(frozen=True, slots=True)
class Chart:
    """Everything the patient page shows, read in one go."""

    intakes: Sequence[IntakeRow]
    prescriptions: Sequence[PrescriptionRow]
    taper_plans: Sequence[TaperPlanRow]
    doses: Sequence[DoseRecordRow]
    assessments: Sequence[AssessmentRow]
    side_effects: Sequence[SideEffectReportRow]

    @property
    def taper_plan(self) -> TaperPlanRow | None:
        """The plan to show: the active one, else the one that ended last (or None)."""
        active = [t for t in self.taper_plans if t.status == "active"]
        shown = active or self.taper_plans
        return shown[-1] if shown else None


def _of_patient(model: Any, order: Any) -> Any:
    return select(model).where(model.patient_id == bindparam("patient_id")).order_by(order)


# The chart's statements, built once (building one costs more CPU than SQLite takes to run
# it): a patient's rows of each kind, in the order the pages show them.
_CHART = {
    "intakes": _of_patient(IntakeRow, IntakeRow.id),
    "prescriptions": _of_patient(PrescriptionRow, PrescriptionRow.id),
    "taper_plans": _of_patient(TaperPlanRow, TaperPlanRow.id),
    "doses": _of_patient(DoseRecordRow, DoseRecordRow.day),
    "assessments": _of_patient(AssessmentRow, AssessmentRow.taken_at),
    "side_effects": _of_patient(SideEffectReportRow, SideEffectReportRow.reported_at),
}


def patient_chart(session: Session, patient_id: int) -> Chart:
    of = {"patient_id": patient_id}
    return Chart(**{name: session.scalars(query, of).all() for name, query in _CHART.items()})


def intakes(session: Session, patient_id: int) -> Sequence[IntakeRow]:
    return session.scalars(_CHART["intakes"], {"patient_id": patient_id}).all()


def last_recorded_dose(session: Session, patient_id: int) -> DoseRecordRow | None:
    """The patient's latest recorded daily dose that was taken (a hold's zero is not a dose)."""
    rows = session.scalars(
        select(DoseRecordRow)
        .where(DoseRecordRow.patient_id == patient_id)
        .order_by(DoseRecordRow.day.desc(), DoseRecordRow.id.desc())
        .limit(60)
    ).all()
    return next((r for r in rows if Decimal(r.daily_mg) > 0), None)


def note_protocol(session: Session, actor: Actor, active: str) -> bool:
    """Audit the site protocol in use (``active``: its name, version and hash, or "none")
    when it differs from the last one recorded; answers whether it changed."""
    _write_pending_audit(session)
    last = session.scalar(
        select(AuditEventRow.what)
        .where(AuditEventRow.action == "protocol.active")
        .order_by(AuditEventRow.id.desc())
        .limit(1)
    )
    if last == active or (last is None and active == "none"):
        return False
    audit(session, actor, "protocol.active", None, active)
    return True
