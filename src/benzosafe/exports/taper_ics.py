"""A taper plan as an iCalendar file: one all-day event per dose change, with a reminder.

Events carry the new dose in their title and what to take in their description; UIDs are
derived from the plan so that re-exporting the same plan updates, not duplicates, events.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from icalendar import Alarm, Calendar, Event

from benzosafe.clinical.taper import TaperPlan, TaperStep
from benzosafe.exports.taper_data import step_drug
from benzosafe.units import format_mg

# The reminder fires at 09:00 the day before the change (all-day events start at midnight).
REMINDER_BEFORE = timedelta(hours=15)


def _title(plan: TaperPlan, step: TaperStep) -> str:
    drug = step_drug(plan, step).capitalize()
    dose = f"{format_mg(step.daily_dose_mg)}/day"
    if step.kind == "stop":
        return f"{drug}: stop (taper complete)"
    if step.kind == "start":
        return f"{drug}: taper starts, {dose}"
    if step.kind == "hold":
        return f"{drug}: hold at {dose}"
    if step.kind == "switch":
        return f"{drug}: switch step, {dose}"
    return f"{drug}: new dose {dose}"


def _description(step: TaperStep) -> str:
    lines = [f"From {step.start.isoformat()} to {step.end.isoformat()}:"]
    lines += [f"- {a.time}: {a.drug} {a.take_text}" for a in step.administrations]
    if not step.administrations:
        lines.append("- no more doses")
    lines += step.notes
    return "\n".join(lines)


def plan_to_ics(plan: TaperPlan, stamp: datetime) -> bytes:
    """The calendar; ``stamp`` is the DTSTAMP (the time the file is made, in UTC)."""
    cal = Calendar()
    cal.add("prodid", "-//benzosafe//taper plan//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{plan.drug.capitalize()} taper plan")
    seed = f"{plan.drug}|{plan.start.isoformat()}|{plan.strategy.text}|{plan.via}"
    plan_id = hashlib.sha256(seed.encode()).hexdigest()[:16]
    previous = None
    for step in plan.steps:
        if previous is not None and step.daily_dose_mg == previous and step.kind == "reduce":
            continue
        previous = step.daily_dose_mg
        event = Event()
        event.add("uid", f"{plan_id}-{step.index}@benzosafe")
        event.add("dtstamp", stamp)
        event.add("dtstart", step.start)
        event.add("dtend", step.start + timedelta(days=1))
        event.add("summary", _title(plan, step))
        event.add("description", _description(step))
        event.add("transp", "TRANSPARENT")
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", _title(plan, step))
        alarm.add("trigger", -REMINDER_BEFORE)
        event.add_component(alarm)
        cal.add_component(event)
    return bytes(cal.to_ical())
