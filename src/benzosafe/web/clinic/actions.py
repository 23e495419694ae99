"""What the pages and the API both do, once: run a check, save it, record a dose.

Each function takes the request context and plain data (JSON or form values already
shaped like the JSON API), calls the clinical core and the records, and returns the rows.
"""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from benzosafe.clinical.level_of_care import Intake
from benzosafe.errors import BenzosafeError, InvalidInput
from benzosafe.knowledge import Knowledge
from benzosafe.store import records
from benzosafe.store.limits import INTEGER_MAX, check_text, max_length
from benzosafe.store.models import (
    AssessmentRow,
    DoseRecordRow,
    IntakeRow,
    PatientRow,
    PrescriptionRow,
    SideEffectReportRow,
    TaperPlanRow,
    TaperPlanVersionRow,
)
from benzosafe.units import format_mg, parse_daily_dose
from benzosafe.web.clinic.deps import Ctx

if TYPE_CHECKING:
    from benzosafe.clinical.taper import TaperPlan


def knowledge() -> Knowledge:
    """The knowledge every result is computed with: the cited defaults with the site protocol
    (``BENZOSAFE_PROTOCOL``) laid over them, re-read when the file changes."""
    from benzosafe.knowledge.protocol import load_active

    return load_active()


def protocol_label(kb: Knowledge) -> str:
    """The site protocol as the audit log records it: name, version and hash, or "none"."""
    p = kb.protocol
    return "none" if p is None else f"{p.name} version {p.version} sha256 {p.sha256}"


def note_protocol(ctx_db: Any, actor: records.Actor) -> bool:
    """Audit a change of the site protocol since the last one recorded (start-up, reload)."""
    return records.note_protocol(ctx_db, actor, protocol_label(knowledge()))


def check(order: dict[str, Any], patient: dict[str, Any]) -> dict[str, Any]:
    """The check report (public JSON shape) for an order and a patient, without saving."""
    from benzosafe.clinical.check import check_raw

    order = dict(order)
    order.setdefault("start", date.today().isoformat())
    report = check_raw(order, patient, knowledge())
    out = report.to_dict()
    out["worst"] = report.worst()
    return out


def save_check(
    ctx: Ctx, patient: PatientRow, order: dict[str, Any], facts: dict[str, Any]
) -> PrescriptionRow:
    """Check an order for a registered patient and keep it with its report."""
    facts = dict(facts)
    facts.setdefault("age", patient.age_on(date.today()))
    report = check(order, facts)
    worst = report.pop("worst")
    return records.add_prescription(ctx.db, ctx.actor, patient, order, facts, report, worst)


def record_dose(ctx: Ctx, patient: PatientRow, data: dict[str, Any]) -> DoseRecordRow:
    """A recorded daily dose (``"0 mg/day"`` with a note for a hold day)."""
    unknown = sorted(set(data) - {"day", "daily_dose", "note"})
    if unknown:
        raise InvalidInput(f"dose.{unknown[0]}", "unknown field", ("day", "daily_dose", "note"))
    try:
        day = date.fromisoformat(str(data.get("day", "")))
    except ValueError as exc:
        raise InvalidInput("dose.day", "is required: a date YYYY-MM-DD") from exc
    text = str(data.get("daily_dose", ""))
    # A hold day is recorded as zero, which a dose parser rightly refuses elsewhere.
    held = re.fullmatch(r"\s*0+(\.0+)?\s*mg\s*/\s*day\s*", text.lower()) is not None
    daily = Decimal(0) if held else parse_daily_dose(text, "dose.daily_dose")
    note = check_text(DoseRecordRow.note, str(data.get("note") or ""), "dose.note")
    mg = format_mg(daily).removesuffix(" mg")
    return records.add_dose_record(ctx.db, ctx.actor, patient, day, mg, note)


def monograph(name: str) -> dict[str, Any]:
    """The monograph dict of a benzodiazepine, or a clear error naming the known ones."""
    from benzosafe.clinical.medications import find_benzodiazepine
    from benzosafe.knowledge.monograph import monograph as build

    kb = knowledge()
    entry = find_benzodiazepine(kb, name)
    if entry is None:
        raise InvalidInput("drug", f"{name!r} is not in the knowledge base", kb.benzodiazepines)
    return build(kb, entry)


# ----------------------------------------------------------------------------- assessment (#4)

# The yes/no questions of the level-of-care intake, as the core defines them.
INTAKE_BOOLEANS = tuple(f.name for f in fields(Intake) if f.type == "bool | None")
INTAKE_INTEGERS = ("days_per_week", "failed_outpatient_tapers", "ciwa_b_total")


def intake_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """The intake form's values in the JSON shape: blank or 'not assessed' fields left out."""
    out: dict[str, Any] = {}
    for key in ("drug", "daily_dose", "duration_of_use_months"):
        if str(form.get(key, "")).strip():
            out[key] = str(form[key]).strip()
    for key in INTAKE_INTEGERS:
        text = str(form.get(key, "")).strip()
        if text:
            if not text.isdigit():
                raise InvalidInput(key, f"{text!r} is not a whole number")
            out[key] = int(text)
    for key in INTAKE_BOOLEANS:
        value = form.get(key, "")
        if value in ("yes", "no"):
            out[key] = value == "yes"
    substances = form.get("other_substances", [])
    substances = [substances] if isinstance(substances, str) else list(substances)
    if form.get("substances_assessed") == "yes" or substances:
        out["other_substances"] = [s for s in substances if s]
    return out


def take_intake(ctx: Ctx, patient: PatientRow, answers: dict[str, Any]) -> IntakeRow:
    """Record an intake with its level-of-care recommendation (age from the record)."""
    from benzosafe.clinical.level_of_care import recommend_level_of_care

    answers = dict(answers)
    answers.setdefault("age", patient.age_on(date.today()))
    recommendation = recommend_level_of_care(answers, knowledge()).to_dict()
    return records.add_intake(ctx.db, ctx.actor, patient, answers, recommendation)


def record_assessment(ctx: Ctx, patient: PatientRow, data: dict[str, Any]) -> AssessmentRow:
    """Score an instrument's answers and keep answers, score and time."""
    from benzosafe.clinical.instruments import instrument, score

    allowed = ("instrument", "answers", "medical_supervision", "taken_at")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInput(f"assessment.{unknown[0]}", "unknown field", allowed)
    inst = instrument(str(data.get("instrument", "")), knowledge())
    answers = data.get("answers")
    if not isinstance(answers, dict | list):
        raise InvalidInput("answers", "give a list of numbers or a mapping of item id to number")
    taken_at = _moment(data.get("taken_at"), "assessment.taken_at")
    age = patient.age_on(taken_at.date()) if "age" in inst.context else None
    result = score(
        inst.id, answers, knowledge(), age=age, medical_supervision=data.get("medical_supervision")
    ).to_dict()
    return records.add_assessment(
        ctx.db, ctx.actor, patient, inst.id, {"answers": answers}, result, result["total"], taken_at
    )


def report_side_effects(ctx: Ctx, patient: PatientRow, data: dict[str, Any]) -> SideEffectReportRow:
    """Triage what the patient reports (a list of phrases) and keep report and triage."""
    from benzosafe.clinical.triage import triage

    unknown = sorted(set(data) - {"symptoms", "reported_at"})
    if unknown:
        raise InvalidInput(
            f"side_effects.{unknown[0]}", "unknown field", ("symptoms", "reported_at")
        )
    symptoms = data.get("symptoms")
    if isinstance(symptoms, str):
        symptoms = [line.strip() for line in symptoms.splitlines() if line.strip()]
    if (
        not isinstance(symptoms, list)
        or not symptoms
        or not all(isinstance(s, str) for s in symptoms)
    ):
        raise InvalidInput("symptoms", "is required: what the patient reports, one phrase each")
    result = triage(symptoms, knowledge()).to_dict()
    moment = _moment(data.get("reported_at"), "side_effects.reported_at")
    return records.add_side_effect(
        ctx.db, ctx.actor, patient, {"symptoms": symptoms}, result, result["level"], moment
    )


def _moment(value: object, field: str) -> datetime:
    if value in (None, ""):
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise InvalidInput(field, f"{value!r} is not a date and time (YYYY-MM-DDTHH:MM)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# ----------------------------------------------------------------------------- taper (#3)

TAPER_TEXT_FIELDS = (
    "drug",
    "dose",
    "split",
    "start",
    "reduce",
    "reduce_by",
    "steps_csv",
    "every",
    "forms",
    "liquid",
    "via",
    "via_forms",
    "override_reason",
)
ADJUST_FIELDS = (
    "on",
    "reason",
    "action",
    "ciwa_b_score",
    "tolerability",
    "hold_days",
    "slow_every_days",
)


def taper_request_from(data: dict[str, Any]) -> dict[str, Any]:
    """The taper request as stored: the clinician's text fields (blank ones left out)."""
    unknown = sorted(set(data) - {*TAPER_TEXT_FIELDS, "label_panic"})
    if unknown:
        raise InvalidInput(f"taper.{unknown[0]}", "unknown field", TAPER_TEXT_FIELDS)
    out: dict[str, Any] = {}
    for key in TAPER_TEXT_FIELDS:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidInput(key, "must be text")
        if value and value.strip():
            out[key] = value.strip()
    if data.get("label_panic") in (True, "yes", "on", "true"):
        out["label_panic"] = True
    return out


def adjustment_from(data: dict[str, Any]) -> dict[str, Any]:
    """An adjustment as stored: on, reason, action and the observation (blank left out)."""
    unknown = sorted(set(data) - set(ADJUST_FIELDS))
    if unknown:
        raise InvalidInput(f"adjustment.{unknown[0]}", "unknown field", ADJUST_FIELDS)
    out: dict[str, Any] = {}
    for key in ADJUST_FIELDS:
        value = data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if key in ("ciwa_b_score", "hold_days", "slow_every_days"):
            if isinstance(value, str) and value.strip().isdigit():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInput(key, f"{value!r} is not a whole number")
        elif not isinstance(value, str):
            raise InvalidInput(key, "must be text")
        out[key] = value.strip() if isinstance(value, str) else value
    return out


def build_plan(
    request: dict[str, Any], adjustments: list[dict[str, Any]], by: str
) -> tuple[TaperPlan, dict[str, Any]]:
    """The plan made from a stored request and replayed adjustments, and its public JSON."""
    from benzosafe.clinical.taper import adjust_plan, parse_taper_request, plan_taper
    from benzosafe.exports.taper_data import plan_to_dict

    args = {k: v for k, v in request.items() if k != "made_by"}
    for required in ("drug", "dose", "split", "start"):
        if required not in args:
            raise InvalidInput(required, "is required")
    kb = knowledge()
    plan = plan_taper(parse_taper_request(kb, **args, by=request.get("made_by", by)), kb)
    for adj in adjustments:
        try:
            on = date.fromisoformat(str(adj.get("on", "")))
        except ValueError as exc:
            raise InvalidInput("on", "is required: the date of the change, YYYY-MM-DD") from exc
        plan = adjust_plan(
            plan,
            kb,
            on=on,
            reason=str(adj.get("reason", "")),
            by=str(adj.get("by", by)),
            ciwa_b_score=adj.get("ciwa_b_score"),
            tolerability=adj.get("tolerability"),
            action=adj.get("action"),
            hold_days=adj.get("hold_days"),
            slow_every_days=adj.get("slow_every_days"),
        )
    return plan, plan_to_dict(plan)


def dose_mismatch(ctx: Ctx, patient: PatientRow, data: dict[str, Any]) -> str | None:
    """A warning when the plan's starting dose differs from the last dose recorded as taken."""
    last = records.last_recorded_dose(ctx.db, patient.id)
    text = str(data.get("dose") or "").strip()
    if last is None or not text:
        return None
    try:
        start = parse_daily_dose(text, "dose")
    except BenzosafeError:
        return None  # the planner names the field
    recorded = Decimal(last.daily_mg)
    if start == recorded:
        return None
    return (
        f"The starting dose {format_mg(start)}/day differs from the last dose recorded as "
        f"taken, {format_mg(recorded)}/day on {last.day.isoformat()}. Check the dose the "
        "patient takes now before planning from it."
    )


def preview_taper(ctx: Ctx, data: dict[str, Any]) -> dict[str, Any]:
    """A plan for these fields, not kept."""
    return build_plan(taper_request_from(data), [], ctx.user.display_name)[1]


def preview_taper_fhir(ctx: Ctx, data: dict[str, Any]) -> bytes:
    """A plan for these fields, not kept, as a FHIR R4 Bundle in draft (no patient named)."""
    from benzosafe.exports.taper_fhir import plan_to_fhir_json

    plan, _ = build_plan(taper_request_from(data), [], ctx.user.display_name)
    return plan_to_fhir_json(plan, knowledge())


def replaced_plan(value: object) -> int | None:
    """The ``replaces`` field: the id of the active plan the clinician saw (None: none)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= INTEGER_MAX:
        raise InvalidInput("replaces", f"{value!r} is not a taper plan id")
    return value


def save_taper(
    ctx: Ctx, patient: PatientRow, data: dict[str, Any], replaces: int | None = None
) -> TaperPlanRow:
    """A new taper plan for the patient, stored with the request that rebuilds it; it ends
    the active plan the clinician saw (``replaces``), naming the new plan and the clinician."""
    request = taper_request_from(data)
    request["made_by"] = ctx.user.display_name
    _, plan_json = build_plan(request, [], ctx.user.display_name)
    stored = {"request": request, "adjustments": [], "plan": plan_json}
    by = ctx.user.display_name
    return records.save_taper_plan(
        ctx.db, ctx.actor, patient, stored, "plan made", replaces=replaces, by=by
    )


def adjust_taper(
    ctx: Ctx, row: TaperPlanRow, expected_version: object, data: dict[str, Any]
) -> TaperPlanRow:
    """Hold or slow a saved plan; a stale ``expected_version`` is a conflict, not a loss."""
    if isinstance(expected_version, str) and expected_version.isdigit():
        expected_version = int(expected_version)
    if isinstance(expected_version, bool) or not isinstance(expected_version, int):
        raise InvalidInput("expected_version", "is required: the version you are changing")
    records.refuse_if_ended(row)
    latest = row.versions[-1].plan
    adjustment = {**adjustment_from(data), "by": ctx.user.display_name}
    adjustments = [*latest["adjustments"], adjustment]
    _, plan_json = build_plan(latest["request"], adjustments, ctx.user.display_name)
    stored = {"request": latest["request"], "adjustments": adjustments, "plan": plan_json}
    patient = ctx.db.get_one(PatientRow, row.patient_id)
    prefix = f"{adjustment.get('action', 'adjust')}: "
    reason = str(adjustment.get("reason", ""))
    if len(prefix) + len(reason) > (max_length(TaperPlanVersionRow.note) or 0):
        room = max(0, (max_length(TaperPlanVersionRow.note) or 0) - len(prefix))
        raise InvalidInput("reason", f"at most {room} characters (this is {len(reason)})")
    note = prefix + reason
    return records.save_taper_plan(
        ctx.db,
        ctx.actor,
        patient,
        stored,
        note,
        taper_plan_id=row.id,
        expected_version=expected_version,
    )


#: The files of a saved plan: the patient's PDF, the calendar, the FHIR R4 Bundle.
TAPER_FILES = (".pdf", ".ics", ".fhir.json")


def taper_file(ctx: Ctx, row: TaperPlanRow, suffix: str) -> bytes:
    """The saved plan (latest version) as a PDF, ICS or FHIR file, rebuilt from what was
    stored; the FHIR Bundle names the patient by the record's MRN."""
    from benzosafe.exports.taper_files import render

    if suffix not in TAPER_FILES:
        raise InvalidInput("format", f"unknown file kind {suffix!r}", TAPER_FILES)
    latest = row.versions[-1].plan
    plan, plan_json = build_plan(latest["request"], latest["adjustments"], ctx.user.display_name)
    if plan_json != latest["plan"]:
        raise InvalidInput(
            "taper_plan",
            "the knowledge changed since this plan was saved, so its file would differ from "
            "the saved plan; make a new plan",
        )
    if suffix == ".fhir.json":
        from benzosafe.exports.taper_fhir import plan_to_fhir_json

        patient = records.get_patient(ctx.db, ctx.actor, row.patient_id, "patient.read-summary")
        subject = {
            "identifier": {
                "type": {"coding": [{"system": MR_SYSTEM, "code": "MR"}]},
                "value": patient.mrn,
            },
            "display": patient.name,
        }
        return plan_to_fhir_json(
            plan, knowledge(), subject, "active" if row.status == "active" else "draft"
        )
    return render(plan, suffix, knowledge())


# The HL7 v2 identifier type of a medical record number (Identifier.type "MR").
MR_SYSTEM = "http://terminology.hl7.org/CodeSystem/v2-0203"
