"""What the pages and the API both do, once: run a check, save it, record a dose.

Each function takes the request context and plain data (JSON or form values already
shaped like the JSON API), calls the clinical core and the records, and returns the rows.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from benzosafe.errors import InvalidInput
from benzosafe.knowledge import load
from benzosafe.store import records
from benzosafe.store.models import DoseRecord, Patient, Prescription
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
