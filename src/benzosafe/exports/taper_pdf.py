"""A taper plan as a PDF (reportlab): a large-print patient schedule, then a clinician summary.

The patient part has one calendar-like table per week (a row per day, a column per time
of day, dose-change days shaded) and whom to call; the clinician part has the bounds with
their rules and sources, the findings, every step with its dispensing, and the history.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from reportlab.lib import colors
from reportlab.lib.enums import TA_LEFT
from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import (
    Flowable,
    PageBreak,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from benzosafe.clinical.findings import SourceRef
from benzosafe.clinical.taper import TIMES_OF_DAY, TaperPlan, TaperStep, daily_series
from benzosafe.exports.taper_data import step_drug
from benzosafe.knowledge import Knowledge
from benzosafe.knowledge.bundle import knowledge_text
from benzosafe.units import format_mg

_BASE = getSampleStyleSheet()
BIG = ParagraphStyle("big", parent=_BASE["Normal"], fontSize=14, leading=18, alignment=TA_LEFT)
BIG_BOLD = ParagraphStyle("bigbold", parent=BIG, fontName="Helvetica-Bold")
TITLE = ParagraphStyle("title", parent=_BASE["Title"], fontSize=22, leading=26)
H2 = ParagraphStyle("h2", parent=_BASE["Heading2"], fontSize=16, leading=20)
WEEK = ParagraphStyle("week", parent=H2, spaceBefore=0, spaceAfter=0)
SMALL = ParagraphStyle("small", parent=_BASE["Normal"], fontSize=9, leading=11)
CELL = ParagraphStyle("cell", parent=_BASE["Normal"], fontSize=12, leading=14)
CELL_BOLD = ParagraphStyle("cellbold", parent=CELL, fontName="Helvetica-Bold")
SHADE = colors.HexColor("#fde9b0")


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _times(plan: TaperPlan) -> list[str]:
    used = {a.time for s in plan.steps for a in s.administrations}
    return [t for t in TIMES_OF_DAY if t in used]


def _step_on(plan: TaperPlan, day: date) -> TaperStep:
    return next(s for s in plan.steps if s.start <= day <= s.end)


def _patient(plan: TaperPlan, kb: Knowledge, contact: str) -> list[Flowable]:
    tk = kb.taper
    drugs = plan.drug if plan.via is None else f"{plan.drug}, then {plan.via}"
    out: list[Flowable] = [
        Paragraph(f"Your {drugs} taper schedule", TITLE),
        Paragraph(
            f"Start {plan.start.strftime('%A %d %B %Y')}. Last dose the day before "
            f"{plan.steps[-1].start.strftime('%A %d %B %Y')}.",
            BIG,
        ),
        Spacer(1, 6),
        Paragraph(f"Whom to call: {_esc(contact)}", BIG_BOLD),
        Paragraph(_esc(tk.patient.call_now), BIG),
        Paragraph(_esc(tk.patient.never), BIG_BOLD),
        Spacer(1, 6),
        Paragraph("Shaded days are the days your dose changes. Tick each dose when taken.", BIG),
        Spacer(1, 10),
    ]
    times = _times(plan)
    series = [d for d, *_ in daily_series(plan)][:-1]  # the stop day is on the last table
    stop_day = plan.steps[-1].start
    first = series[0] - timedelta(days=series[0].weekday())
    week = first
    while week <= stop_day:
        days = [week + timedelta(days=k) for k in range(7)]
        rows: list[list[Any]] = [
            [Paragraph(f"Week of {week.strftime('%d %B %Y')}", WEEK)] + [""] * (len(times) + 1),
            [Paragraph("Day", CELL_BOLD)]
            + [Paragraph(t.capitalize(), CELL_BOLD) for t in times]
            + [Paragraph("Done", CELL_BOLD)],
        ]
        style: list[Any] = [
            ("SPAN", (0, 0), (-1, 0)),
            ("GRID", (0, 1), (-1, -1), 0.8, colors.black),
            ("BACKGROUND", (0, 1), (-1, 1), colors.HexColor("#dddddd")),
            ("LEFTPADDING", (0, 0), (0, 0), 0),
            ("BOTTOMPADDING", (0, 0), (-1, 0), 6),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
        ]
        for day in days:
            if day < plan.start or day > stop_day:
                continue
            step = _step_on(plan, day)
            label = Paragraph(day.strftime("%a %d %b"), CELL)
            if day == stop_day:
                rows.append(
                    [label, Paragraph("No more doses: taper complete", CELL_BOLD)]
                    + [""] * (len(times) - 1)
                    + [""]
                )
                style.append(("SPAN", (1, len(rows) - 1), (len(times), len(rows) - 1)))
            else:
                per_time = {a.time: a for a in step.administrations}
                cells: list[Any] = [label]
                for t in times:
                    a = per_time.get(t)
                    text = "none" if a is None else f"<b>{format_mg(a.dose_mg)}</b><br/>"
                    if a is not None:
                        drug = f"{a.drug}: " if plan.via else ""
                        text += _esc(drug + a.take_text)
                    cells.append(Paragraph(text, CELL))
                rows.append([*cells, ""])
            if day == step.start and step.index > 1:
                style.append(("BACKGROUND", (0, len(rows) - 1), (-1, len(rows) - 1), SHADE))
        width = 7.0 * inch
        col = (width - 1.3 * inch - 0.75 * inch) / max(len(times), 1)
        table = Table(
            rows, colWidths=[1.3 * inch] + [col] * len(times) + [0.75 * inch], repeatRows=2
        )
        table.setStyle(TableStyle(style))
        out += [table, Spacer(1, 14)]
        week += timedelta(days=7)
    return out


def _refs(sources: Iterable[SourceRef]) -> str:
    return "; ".join(
        f"[{s.ref}] {s.title}" + (f", {s.section}" if s.section else "") for s in sources
    )


def _clinician(plan: TaperPlan) -> list[Flowable]:
    out: list[Flowable] = [
        Paragraph(f"Clinician summary: {plan.drug} taper", TITLE),
        Paragraph(
            "benzosafe supports, never replaces, clinical judgement. Check every step against "
            "the patient and the cited sources.",
            SMALL,
        ),
        Spacer(1, 6),
        Paragraph(
            f"Start {plan.start.isoformat()}; first day on no medicine "
            f"{plan.steps[-1].start.isoformat()} ({plan.total_days} days). "
            f"Strategy: {_esc(plan.strategy.text)}.",
            _BASE["Normal"],
        ),
        Paragraph("Forms: " + _esc(", ".join(f.label for f in plan.forms)), _BASE["Normal"]),
    ]
    if plan.via:
        out.append(
            Paragraph(
                f"Switch to {plan.via}; forms: " + _esc(", ".join(f.label for f in plan.via_forms)),
                _BASE["Normal"],
            )
        )
    out.append(Paragraph("Equivalence: " + _esc(plan.equivalence_note), _BASE["Normal"]))
    if plan.override_reason:
        out.append(
            Paragraph(
                f"<b>Clinician override of the taper bound:</b> {_esc(plan.override_reason)}",
                _BASE["Normal"],
            )
        )
    out += [Spacer(1, 8), Paragraph("Bounds and rules", H2)]
    for b in plan.bounds:
        out.append(
            Paragraph(
                f"<b>{b.rule}</b> v{b.version}: {_esc(b.text)}. "
                f"<font size=8>{_esc(_refs(b.sources))}</font>",
                _BASE["Normal"],
            )
        )
    out += [Spacer(1, 8), Paragraph("Findings", H2)]
    if not plan.findings:
        out.append(Paragraph("None.", _BASE["Normal"]))
    for f in plan.findings:
        out.append(
            Paragraph(
                f"<b>{f.severity.upper()}</b> {f.rule} v{f.rule_version}: {_esc(f.summary)}. "
                f"{_esc(f.detail)} <font size=8>{_esc(_refs(f.sources))}</font>",
                _BASE["Normal"],
            )
        )
    out += [Spacer(1, 8), Paragraph("Steps and dispensing", H2)]
    rows: list[list[Any]] = [
        [
            Paragraph(h, SMALL)
            for h in ("#", "dates", "days", "daily dose", "DE mg", "take", "dispense")
        ]
    ]
    for s in plan.steps:
        take = "<br/>".join(_esc(f"{a.time}: {a.drug} {a.take_text}") for a in s.administrations)
        rows.append(
            [
                Paragraph(f"{s.index} {s.kind}", SMALL),
                Paragraph(f"{s.start.isoformat()} to {s.end.isoformat()}", SMALL),
                Paragraph(str(s.days), SMALL),
                Paragraph(f"{format_mg(s.daily_dose_mg)} {_esc(step_drug(plan, s))}", SMALL),
                Paragraph(format_mg(s.diazepam_equivalent_mg).removesuffix(" mg"), SMALL),
                Paragraph(take or "stop", SMALL),
                Paragraph("<br/>".join(_esc(d.text) for d in s.dispensing) or "-", SMALL),
            ]
        )
    table = Table(
        rows,
        colWidths=[
            0.6 * inch,
            1.0 * inch,
            0.4 * inch,
            1.0 * inch,
            0.5 * inch,
            2.2 * inch,
            1.5 * inch,
        ],
        repeatRows=1,
    )
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dddddd")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    out.append(table)
    out += [Spacer(1, 8), Paragraph("History", H2)]
    for v in plan.history:
        extra = ""
        if v.ciwa_b_score is not None:
            extra += f" CIWA-B total {v.ciwa_b_score} (recorded, not interpreted)."
        if v.tolerability:
            extra += f" Tolerability: {_esc(v.tolerability)}."
        out.append(
            Paragraph(
                f"v{v.version} {v.on.isoformat()} by {_esc(v.by)}: {v.action}, {_esc(v.reason)}. "
                f"{_esc(v.detail)}.{extra}",
                _BASE["Normal"],
            )
        )
    out.append(Spacer(1, 8))
    provenance = knowledge_text(plan.knowledge_version, plan.protocol)
    out.append(Paragraph(f"{_esc(provenance)}.", SMALL))
    return out


def plan_to_pdf(plan: TaperPlan, kb: Knowledge, contact: str = "your prescriber") -> bytes:
    """The patient schedule (its advice from the taper knowledge), then the clinician summary."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=letter,
        leftMargin=0.75 * inch,
        rightMargin=0.75 * inch,
        topMargin=0.7 * inch,
        bottomMargin=0.7 * inch,
        title=f"{plan.drug} taper plan",
        author="benzosafe",
        invariant=True,
    )
    story = [*_patient(plan, kb, contact), PageBreak(), *_clinician(plan)]
    doc.build(story)
    return buffer.getvalue()
