"""The JSON API: everything the pages do, documented by OpenAPI at ``/docs``.

Unsafe requests need the ``X-CSRF-Token`` header with the token from ``GET /api/session``.
Errors have one shape (see :mod:`benzosafe.web.clinic.errors`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Body, Depends, Response
from pydantic import Field

from benzosafe.store import accounts, records
from benzosafe.store.models import (
    AssessmentRow,
    AuditEventRow,
    DoseRecordRow,
    IntakeRow,
    PatientRow,
    PrescriptionRow,
    SideEffectReportRow,
    TaperPlanRow,
    TaperPlanVersionRow,
    UserRow,
)
from benzosafe.web.clinic import actions, api_session
from benzosafe.web.clinic.api_session import user_to_dict
from benzosafe.web.clinic.deps import Count, Ctx, OptionalRowId, RowId, ctx
from benzosafe.web.clinic.schemas import (
    ERRORS,
    FILES,
    AssessmentOut,
    AuditList,
    ChartOut,
    CheckReport,
    DoseOut,
    IntakeOut,
    JSONRoute,
    Monograph,
    PatientList,
    PatientOut,
    PatientSummary,
    PrescriptionOut,
    SideEffectOut,
    Strict,
    TaperPlan,
    TaperPlanOut,
    UserList,
    UserOut,
    declares,
    limited,
    positive,
)

router = APIRouter(prefix="/api", responses=ERRORS, route_class=JSONRoute)
router.include_router(api_session.router)  # sign-in, sign-out, passwords
PATIENTS = Depends(ctx("patients"))
CLINICAL = Depends(ctx("clinical"))
ADMIN = Depends(ctx("admin"))
REFERENCE = Depends(ctx("reference"))


class PatientIn(Strict):
    mrn: str = limited(PatientRow.mrn)
    family_name: str = limited(PatientRow.family_name)
    given_name: str = limited(PatientRow.given_name)
    birth_date: str = Field(description="YYYY-MM-DD")


class CheckIn(Strict):
    order: dict[str, Any] = Field(description="The order, as for `benzosafe check --input`.")
    patient: dict[str, Any] = Field(
        default_factory=dict, description="Age defaults from the record."
    )


class DoseIn(Strict):
    day: str = Field(description="YYYY-MM-DD")
    daily_dose: str = limited(
        DoseRecordRow.daily_mg, description="e.g. '1.5 mg/day'; '0 mg/day' for a hold day"
    )
    note: str = limited(DoseRecordRow.note, default="")


class DecisionIn(Strict):
    decision: str = limited(IntakeRow.decision, description="admit or refer")


class AssessmentIn(Strict):
    instrument: str = limited(
        AssessmentRow.instrument, description="sds, dsm5, ciwa-b or bwsq (benzosafe assess list)"
    )
    answers: list[int] | dict[str, int]
    medical_supervision: bool | None = Field(default=None, description="required for dsm5")
    taken_at: str | None = Field(default=None, description="ISO date-time; default now")


class SideEffectsIn(Strict):
    symptoms: list[str] = Field(description="what the patient reports, one phrase each")
    reported_at: str | None = None


class TaperIn(Strict):
    """The taper request as typed by a clinician (see ``benzosafe taper --help``)."""

    drug: str
    dose: str = Field(description="current daily dose, e.g. '2 mg/day'")
    split: str = Field(description="e.g. '1 mg bid'")
    start: str = Field(description="YYYY-MM-DD")
    reduce: str | None = Field(default=None, description="e.g. '10%'")
    reduce_by: str | None = None
    steps_csv: str | None = None
    label_panic: bool = False
    every: str | None = Field(default=None, description="e.g. '14d'")
    forms: str | None = None
    liquid: str | None = None
    via: str | None = None
    via_forms: str | None = None
    override_reason: str | None = None
    replaces: int | None = positive(
        default=None,
        description="the id of the patient's active taper plan, which this one ends "
        "(required when the patient has one; another id, or none, is a 409)",
    )


class AdjustIn(Strict):
    expected_version: int = positive(description="the version you read; another is a 409")
    on: str = Field(description="YYYY-MM-DD")
    reason: str = limited(TaperPlanVersionRow.note, description="why; kept in the plan's note")
    action: str | None = Field(default=None, description="hold (default) or slow")
    ciwa_b_score: int | None = None
    tolerability: str | None = None
    hold_days: int | None = None
    slow_every_days: int | None = None


class UserIn(Strict):
    username: str = limited(UserRow.username)
    password: str
    role: str = limited(UserRow.role)
    display_name: str = limited(UserRow.display_name, default="")


class ActiveIn(Strict):
    active: bool


class RoleIn(Strict):
    role: str = limited(UserRow.role, description="admin, clinician or admissions")


def _when(moment: datetime | date | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def patient_to_dict(p: PatientRow) -> dict[str, Any]:
    return {
        "id": p.id,
        "mrn": p.mrn,
        "family_name": p.family_name,
        "given_name": p.given_name,
        "birth_date": p.birth_date.isoformat(),
        "status": p.status,
    }


def intake_to_dict(i: IntakeRow) -> dict[str, Any]:
    return {
        "id": i.id,
        "recorded_at": _when(i.recorded_at),
        "answers": i.answers,
        "recommendation": i.recommendation,
        "decision": i.decision,
        "decided_at": _when(i.decided_at),
    }


def prescription_to_dict(p: PrescriptionRow) -> dict[str, Any]:
    return {
        "id": p.id,
        "recorded_at": _when(p.recorded_at),
        "order": p.order,
        "patient": p.patient_facts,
        "report": p.report,
    }


def taper_plan_to_dict(t: TaperPlanRow) -> dict[str, Any]:
    return {
        "id": t.id,
        "patient_id": t.patient_id,
        "status": t.status,
        "version": t.version,
        "updated_at": _when(t.updated_at),
        "ended_at": _when(t.ended_at),
        "end_reason": t.end_reason,
        "versions": [
            {
                "number": v.number,
                "note": v.note,
                "recorded_at": _when(v.recorded_at),
                "request": v.plan["request"],
                "adjustments": v.plan["adjustments"],
                "plan": v.plan["plan"],
            }
            for v in t.versions
        ],
    }


def dose_record_to_dict(d: DoseRecordRow) -> dict[str, Any]:
    return {"id": d.id, "day": d.day.isoformat(), "daily_mg": float(d.daily_mg), "note": d.note}


def assessment_to_dict(a: AssessmentRow) -> dict[str, Any]:
    return {
        "id": a.id,
        "instrument": a.instrument,
        "taken_at": _when(a.taken_at),
        "answers": a.answers,
        "total": a.total,
        "score": a.score,
    }


def side_effect_report_to_dict(s: SideEffectReportRow) -> dict[str, Any]:
    return {
        "id": s.id,
        "reported_at": _when(s.reported_at),
        "report": s.report,
        "level": s.level,
        "triage": s.triage,
    }


def audit_event_to_dict(e: AuditEventRow) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": _when(e.at),
        "user_id": e.user_id,
        "username": e.username,
        "action": e.action,
        "patient_id": e.patient_id,
        "what": e.what,
    }


# ----------------------------------------------------------------------------- patients


@router.get("/patients", tags=["patients"], **declares(PatientList))
def list_patients(
    q: str = "", limit: Count = 50, offset: Count = 0, c: Ctx = PATIENTS
) -> dict[str, Any]:
    """Patients whose name or MRN contains ``q``, ``limit`` of them from ``offset``; ``total``
    is how many match."""
    total = records.count_patients(c.db, q)
    found = records.search_patients(c.db, c.actor, q, max(1, min(limit, 200)), max(offset, 0))
    c.commit()
    return {"patients": [patient_to_dict(p) for p in found], "total": total}


@router.post(
    "/patients",
    status_code=201,
    tags=["patients"],
    **declares(PatientOut, 201),
)
def create_patient(body: PatientIn, c: Ctx = PATIENTS) -> dict[str, Any]:
    patient = records.create_patient(c.db, c.actor, body.model_dump())
    c.commit()
    return patient_to_dict(patient)


@router.get("/patients/{patient_id}", tags=["patients"], **declares(PatientSummary))
def get_patient(patient_id: RowId, c: Ctx = PATIENTS) -> dict[str, Any]:
    """Registration details and intakes (what admissions may see)."""
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read-summary")
    out = patient_to_dict(patient)
    out["intakes"] = [intake_to_dict(i) for i in records.intakes(c.db, patient_id)]
    c.commit()
    return out


@router.get("/patients/{patient_id}/chart", tags=["clinical"], **declares(ChartOut))
def get_chart(patient_id: RowId, c: Ctx = CLINICAL) -> dict[str, Any]:
    """The clinical record: prescriptions with reports, taper plans, doses, scores, reports."""
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read")
    chart = records.patient_chart(c.db, patient_id)
    c.commit()
    return {
        "patient": patient_to_dict(patient),
        "intakes": [intake_to_dict(i) for i in chart.intakes],
        "prescriptions": [prescription_to_dict(p) for p in chart.prescriptions],
        "taper_plans": [taper_plan_to_dict(t) for t in chart.taper_plans],
        "doses": [dose_record_to_dict(d) for d in chart.doses],
        "assessments": [assessment_to_dict(a) for a in chart.assessments],
        "side_effects": [side_effect_report_to_dict(s) for s in chart.side_effects],
    }


@router.post(
    "/patients/{patient_id}/prescriptions",
    status_code=201,
    tags=["clinical"],
    **declares(PrescriptionOut, 201),
)
def create_prescription(patient_id: RowId, body: CheckIn, c: Ctx = CLINICAL) -> dict[str, Any]:
    """Check an order for this patient and keep it with its report."""
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read")
    row = actions.save_check(c, patient, body.order, body.patient)
    c.commit()
    return prescription_to_dict(row)


@router.post(
    "/patients/{patient_id}/doses",
    status_code=201,
    tags=["clinical"],
    **declares(DoseOut, 201),
)
def create_dose(patient_id: RowId, body: DoseIn, c: Ctx = CLINICAL) -> dict[str, Any]:
    """Record the daily dose taken on a day (``0 mg/day`` and a note for a hold)."""
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read")
    row = actions.record_dose(c, patient, body.model_dump())
    c.commit()
    return dose_record_to_dict(row)


@router.post(
    "/patients/{patient_id}/intakes",
    status_code=201,
    tags=["patients"],
    **declares(IntakeOut, 201),
)
def create_intake(
    patient_id: RowId,
    c: Ctx = PATIENTS,
    intake: dict[str, Any] = Body(
        description="The level-of-care intake (README); age defaults from the record."
    ),
) -> dict[str, Any]:
    """Take an intake and answer it with the level-of-care recommendation."""
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read-summary")
    row = actions.take_intake(c, patient, intake)
    c.commit()
    return intake_to_dict(row)


@router.post("/intakes/{intake_id}/decision", tags=["patients"], **declares(IntakeOut))
def decide_intake(intake_id: RowId, body: DecisionIn, c: Ctx = PATIENTS) -> dict[str, Any]:
    """Admit or refer after an intake; the patient's status follows."""
    row = records.decide_intake(c.db, c.actor, intake_id, body.decision)
    c.commit()
    return intake_to_dict(row)


@router.post(
    "/patients/{patient_id}/assessments",
    status_code=201,
    tags=["clinical"],
    **declares(AssessmentOut, 201),
)
def create_assessment(patient_id: RowId, body: AssessmentIn, c: Ctx = CLINICAL) -> dict[str, Any]:
    """Score an instrument (CIWA-B, SDS, DSM-5, BWSQ) and keep it; age comes from the record."""
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read")
    row = actions.record_assessment(c, patient, body.model_dump(exclude_none=True))
    c.commit()
    return assessment_to_dict(row)


@router.post(
    "/patients/{patient_id}/side-effects",
    status_code=201,
    tags=["clinical"],
    **declares(SideEffectOut, 201),
)
def create_side_effect_report(
    patient_id: RowId, body: SideEffectsIn, c: Ctx = CLINICAL
) -> dict[str, Any]:
    """Triage a side-effect report and keep it with its triage level."""
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read")
    row = actions.report_side_effects(c, patient, body.model_dump(exclude_none=True))
    c.commit()
    return side_effect_report_to_dict(row)


@router.post("/taper/preview", tags=["taper"], **declares(TaperPlan))
def preview_taper(body: TaperIn, c: Ctx = CLINICAL) -> dict[str, Any]:
    """The plan for this request (README, taper JSON), not kept."""
    return actions.preview_taper(c, body.model_dump(exclude_none=True))


@router.get(
    "/taper/preview.fhir.json",
    tags=["taper"],
    response_class=Response,
    responses={
        200: {
            "description": "A FHIR R4 Bundle: a CarePlan and one MedicationRequest per step",
            "content": {"application/fhir+json": {"schema": {"type": "object"}}},
        }
    },
)
def preview_taper_fhir(c: Ctx = CLINICAL) -> Response:
    """The plan for the taper fields given as query parameters (``start`` today when not
    given), not kept, as a FHIR R4 Bundle in draft: where a CDS Hooks patient-view card links
    for a taper plan proposal."""
    data = dict(c.request.query_params)
    data.setdefault("start", date.today().isoformat())
    content = actions.preview_taper_fhir(c, data)
    return Response(content, media_type="application/fhir+json")


@router.post(
    "/patients/{patient_id}/taper-plans",
    status_code=201,
    tags=["taper"],
    **declares(TaperPlanOut, 201),
)
def create_taper_plan(patient_id: RowId, body: TaperIn, c: Ctx = CLINICAL) -> dict[str, Any]:
    """Make and keep a taper plan for the patient (version 1), the patient's one active plan:
    the active plan it replaces, if any, is named in ``replaces`` and ends with the reason
    "replaced by plan N on DATE by NAME"."""
    patient = records.get_patient(c.db, c.actor, patient_id, "patient.read")
    data = body.model_dump(exclude_none=True, exclude={"replaces"})
    row = actions.save_taper(c, patient, data, body.replaces)
    c.commit()
    return taper_plan_to_dict(row)


@router.get("/taper-plans/{taper_plan_id}", tags=["taper"], **declares(TaperPlanOut))
def get_taper_plan(taper_plan_id: RowId, c: Ctx = CLINICAL) -> dict[str, Any]:
    row = records.get_taper_plan(c.db, c.actor, taper_plan_id)
    c.commit()
    return taper_plan_to_dict(row)


@router.post(
    "/taper-plans/{taper_plan_id}/adjustments",
    tags=["taper"],
    **declares(TaperPlanOut),
)
def adjust_taper_plan(taper_plan_id: RowId, body: AdjustIn, c: Ctx = CLINICAL) -> dict[str, Any]:
    """Hold or slow the plan; a stale ``expected_version`` answers 409 and changes nothing."""
    row = records.get_taper_plan(c.db, c.actor, taper_plan_id)
    data = body.model_dump(exclude_none=True, exclude={"expected_version"})
    row = actions.adjust_taper(c, row, body.expected_version, data)
    c.commit()
    return taper_plan_to_dict(row)


@router.get(
    "/taper-plans/{taper_plan_id}/plan.{kind}",
    tags=["taper"],
    responses=FILES,
    response_class=Response,
)
def taper_plan_file(taper_plan_id: RowId, kind: str, c: Ctx = CLINICAL) -> Response:
    """The saved plan's latest version as ``pdf`` (patient schedule + clinician summary),
    ``ics`` (one event per step) or ``fhir.json`` (a FHIR R4 Bundle: the CarePlan and one
    MedicationRequest per step)."""
    row = records.get_taper_plan(c.db, c.actor, taper_plan_id)
    content = actions.taper_file(c, row, f".{kind}")
    c.commit()
    media = {"pdf": "application/pdf", "ics": "text/calendar"}.get(kind, "application/fhir+json")
    name = f"taper-plan-{row.id}-v{row.version}.{kind}"
    return Response(
        content, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


# ----------------------------------------------------------------------------- reference


@router.post("/check", tags=["reference"], **declares(CheckReport))
def check(body: CheckIn, c: Ctx = CLINICAL) -> dict[str, Any]:
    """Check an order without a patient record (nothing is kept)."""
    report = actions.check(body.order, body.patient)
    report.pop("worst")
    return report


@router.get("/drugs/{name}", tags=["reference"], **declares(Monograph))
def drug(name: str, c: Ctx = REFERENCE) -> dict[str, Any]:
    """The cited monograph of a benzodiazepine (generic, brand or RxNorm code)."""
    return actions.monograph(name)


# ----------------------------------------------------------------------------- admin


@router.get("/users", tags=["admin"], **declares(UserList))
def list_users(c: Ctx = ADMIN) -> dict[str, Any]:
    return {"users": [user_to_dict(u) for u in accounts.list_users(c.db)]}


@router.post("/users", status_code=201, tags=["admin"], **declares(UserOut, 201))
def create_user(body: UserIn, c: Ctx = ADMIN) -> dict[str, Any]:
    user = accounts.create_user(
        c.db, c.actor, body.username, body.password, body.role, body.display_name
    )
    c.commit()
    return user_to_dict(user)


@router.post("/users/{user_id}/active", tags=["admin"], **declares(UserOut))
def set_active(user_id: RowId, body: ActiveIn, c: Ctx = ADMIN) -> dict[str, Any]:
    user = accounts.set_user_active(c.db, c.actor, user_id, body.active)
    c.commit()
    return user_to_dict(user)


@router.post("/users/{user_id}/role", tags=["admin"], **declares(UserOut))
def set_role(user_id: RowId, body: RoleIn, c: Ctx = ADMIN) -> dict[str, Any]:
    """Give a user another role; the last active admin is not demoted (409)."""
    user = accounts.set_user_role(c.db, c.actor, user_id, body.role)
    c.commit()
    return user_to_dict(user)


@router.get("/audit", tags=["admin"], **declares(AuditList))
def audit(patient_id: OptionalRowId = None, limit: Count = 200, c: Ctx = ADMIN) -> dict[str, Any]:
    """The newest audit events, optionally for one patient."""
    events = records.audit_events(c.db, patient_id=patient_id, limit=max(1, min(limit, 1000)))
    return {"events": [audit_event_to_dict(e) for e in events]}
