"""What the pages and the API both do, once: run a check, save it, record a dose.

Each function takes the request context and plain data (JSON or form values already
shaped like the JSON API), calls the clinical core and the records, and returns the rows.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from benzosafe.errors import InvalidInput
from benzosafe.knowledge import load
from benzosafe.store import records
from benzosafe.store.models import (
    Assessment,
    DoseRecord,
    Intake,
    Patient,
    Prescription,
    SideEffectReport,
)
from benzosafe.units import format_mg, parse_daily_dose
from benzosafe.web.deps import Ctx


def check(order: dict[str, Any], patient: dict[str, Any]) -> dict[str, Any]:
    """The check report (public JSON shape) for an order and a patient, without saving."""
    from benzosafe.clinical.check import check_prescription, parse_order, parse_patient

    kb = load()
    order = dict(order)
    order.setdefault("start", date.today().isoformat())
    report = check_prescription(parse_order(order, kb), parse_patient(patient, kb), kb)
    out = report.to_dict()
    out["worst"] = report.worst()
    return out


def save_check(
    ctx: Ctx, patient: Patient, order: dict[str, Any], facts: dict[str, Any]
) -> Prescription:
    """Check an order for a registered patient and keep it with its report."""
    facts = dict(facts)
    facts.setdefault("age", patient.age_on(date.today()))
    report = check(order, facts)
    worst = report.pop("worst")
    return records.add_prescription(ctx.db, ctx.actor, patient, order, facts, report, worst)


def record_dose(ctx: Ctx, patient: Patient, data: dict[str, Any]) -> DoseRecord:
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
    note = str(data.get("note") or "")[:500]
    mg = format_mg(daily).removesuffix(" mg")
    return records.add_dose_record(ctx.db, ctx.actor, patient, day, mg, note)


def monograph(name: str) -> dict[str, Any]:
    """The monograph dict of a benzodiazepine, or a clear error naming the known ones."""
    from benzosafe.clinical.medications import find_benzodiazepine
    from benzosafe.knowledge.monograph import monograph as build

    kb = load()
    entry = find_benzodiazepine(kb, name)
    if entry is None:
        raise InvalidInput("drug", f"{name!r} is not in the knowledge base", kb.benzodiazepines)
    return build(kb, entry)


# ----------------------------------------------------------------------------- assessment (#4)

INTAKE_BOOLEANS = (
    "withdrawal_seizure_history",
    "withdrawal_delirium_history",
    "suicidality",
    "pregnant",
    "frail",
    "support_at_home",
    "severe_or_complicated_withdrawal",
)
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


def take_intake(ctx: Ctx, patient: Patient, answers: dict[str, Any]) -> Intake:
    """Record an intake with its level-of-care recommendation (age from the record)."""
    from benzosafe.clinical.level_of_care import recommend_level_of_care

    answers = dict(answers)
    answers.setdefault("age", patient.age_on(date.today()))
    recommendation = recommend_level_of_care(answers).as_dict()
    return records.add_intake(ctx.db, ctx.actor, patient, answers, recommendation)


def record_assessment(ctx: Ctx, patient: Patient, data: dict[str, Any]) -> Assessment:
    """Score an instrument's answers and keep answers, score and time."""
    from benzosafe.clinical.instruments import instrument, score

    allowed = ("instrument", "answers", "medical_supervision", "taken_at")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise InvalidInput(f"assessment.{unknown[0]}", "unknown field", allowed)
    inst = instrument(str(data.get("instrument", "")))
    answers = data.get("answers")
    if not isinstance(answers, dict | list):
        raise InvalidInput("answers", "give a list of numbers or a mapping of item id to number")
    taken_at = _moment(data.get("taken_at"), "assessment.taken_at")
    age = patient.age_on(taken_at.date()) if "age" in inst.context else None
    result = score(
        inst.id, answers, age=age, medical_supervision=data.get("medical_supervision")
    ).as_dict()
    return records.add_assessment(
        ctx.db, ctx.actor, patient, inst.id, {"answers": answers}, result, result["total"], taken_at
    )


def report_side_effects(ctx: Ctx, patient: Patient, data: dict[str, Any]) -> SideEffectReport:
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
    result = triage(symptoms).as_dict()
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
