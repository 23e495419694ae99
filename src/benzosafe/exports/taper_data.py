"""A taper plan as plain data: the public JSON shape and the CSV of its steps.

:func:`plan_to_dict` is the documented contract of ``benzosafe taper --json`` (see the
README): ``steps`` in date order, each with ``start`` and ``end`` (ISO dates, both
inclusive, the next step starting the day after), ``drug``, ``daily_dose_mg`` and
``administrations``. Numbers are JSON numbers, in mg.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from benzosafe.clinical.taper import (
    TIMES_OF_DAY,
    Administration,
    Dispense,
    TaperPlan,
    TaperStep,
)
from benzosafe.knowledge.bundle import protocol_fields

CSV_COLUMNS = (
    "step",
    "start",
    "end",
    "days",
    "kind",
    "drug",
    "daily_dose_mg",
    "diazepam_equivalent_mg",
    *TIMES_OF_DAY,
    "dispensing",
    "notes",
)


def number(value: Decimal) -> int | float:
    """A Decimal as a JSON number: an int when whole, else a float."""
    normal = value.normalize()
    return int(normal) if normal == normal.to_integral_value() else float(normal)


def step_drug(plan: TaperPlan, step: TaperStep) -> str:
    """The drug(s) of a step; the stop step names the drug that was stopped."""
    if step.administrations:
        return "+".join(step.drugs)
    return plan.via or plan.drug


def _administration(a: Administration) -> dict[str, Any]:
    units: list[dict[str, Any]] = []
    for t in a.takes:
        unit: dict[str, Any] = {"form": t.form.form, "strength_mg": number(t.form.strength_mg)}
        if t.form.form == "liquid":
            unit["strength_unit"] = "mg/mL"
            unit["volume_ml"] = number(t.volume_ml)
        else:
            unit["count"] = number(t.count)
        units.append(unit)
    return {
        "time": a.time,
        "drug": a.drug,
        "dose_mg": number(a.dose_mg),
        "take": a.take_text,
        "units": units,
    }


def _dispense(d: Dispense) -> dict[str, Any]:
    out: dict[str, Any] = {
        "drug": d.form.drug,
        "form": d.form.form,
        "strength_mg": number(d.form.strength_mg),
        "text": d.text,
    }
    if d.form.form == "liquid":
        out["volume_ml"] = number(d.volume_ml)
    else:
        out["tablets"] = d.tablets
    return out


def step_to_dict(plan: TaperPlan, step: TaperStep) -> dict[str, Any]:
    return {
        "step": step.index,
        "start": step.start.isoformat(),
        "end": step.end.isoformat(),
        "days": step.days,
        "kind": step.kind,
        "drug": step_drug(plan, step),
        "daily_dose_mg": number(step.daily_dose_mg),
        "daily_dose_by_drug_mg": {k: number(v) for k, v in step.daily_dose_by_drug_mg.items()},
        "diazepam_equivalent_mg": number(step.diazepam_equivalent_mg),
        "administrations": [_administration(a) for a in step.administrations],
        "dispensing": [_dispense(d) for d in step.dispensing],
        "notes": list(step.notes),
    }


def plan_to_dict(plan: TaperPlan) -> dict[str, Any]:
    """The plan in the public JSON shape."""
    return {
        "kind": "taper-plan",
        "drug": plan.drug,
        "via": plan.via,
        "start": plan.start.isoformat(),
        "stop": plan.steps[-1].start.isoformat(),
        "total_days": plan.total_days,
        "strategy": plan.strategy.text,
        "forms": [f.label for f in plan.forms],
        "via_forms": [f.label for f in plan.via_forms],
        "equivalence": {
            "table": plan.equivalence_table,
            "mg_equal_to_10_mg_diazepam": number(plan.equivalence_mg),
            "note": plan.equivalence_note,
        },
        "override_reason": plan.override_reason,
        "version": plan.version,
        "knowledge_version": plan.knowledge_version,
        **protocol_fields(plan.protocol),
        "bounds": [
            {
                "rule": b.rule,
                "version": b.version,
                "text": b.text,
                "sources": [
                    {"ref": s.ref, "title": s.title, "section": s.section} for s in b.sources
                ],
            }
            for b in plan.bounds
        ],
        "findings": [f.to_dict() for f in plan.findings],
        "history": [
            {
                "version": v.version,
                "on": v.on.isoformat(),
                "by": v.by,
                "reason": v.reason,
                "action": v.action,
                "detail": v.detail,
                "ciwa_b_score": v.ciwa_b_score,
                "tolerability": v.tolerability,
            }
            for v in plan.history
        ],
        "steps": [step_to_dict(plan, s) for s in plan.steps],
    }


def plan_to_csv(plan: TaperPlan) -> str:
    """One row per step: dates, dose, what to take at each time of day, dispensing, notes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in plan.steps:
        per_time = {a.time: f"{a.drug} {a.take_text}" for a in s.administrations}
        writer.writerow(
            [
                s.index,
                s.start.isoformat(),
                s.end.isoformat(),
                s.days,
                s.kind,
                step_drug(plan, s),
                number(s.daily_dose_mg),
                number(s.diazepam_equivalent_mg),
                *(per_time.get(t, "") for t in TIMES_OF_DAY),
                "; ".join(d.text for d in s.dispensing),
                "; ".join(s.notes),
            ]
        )
    return buffer.getvalue()
