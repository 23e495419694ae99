"""Server-drawn SVG charts for the patient page: planned vs recorded doses, the CIWA-B trend.

Plain SVG strings (no JavaScript, no build step), each with a title and description for
screen readers; the page shows the same numbers in a table beside it. The dose chart comes in
a figure with an HTML legend (plan line, recorded doses, recorded holds, planned holds) that
stays the page's size whatever the chart is scaled to; the chart's own text is drawn large
enough to read when a tablet (768 px) scales it down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import escape
from typing import Any

from benzosafe.store.records import Chart

W, H, PAD_L, PAD_R, PAD_T, PAD_B = 640, 300, 58, 28, 34, 44


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    kind: str
    text: str


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def planned_steps(stored: dict[str, Any]) -> list[tuple[date, date, float, bool]]:
    """(start, end, mg/day, hold) of each step of a saved taper plan (its public JSON)."""
    out: list[tuple[date, date, float, bool]] = []
    for step in stored.get("plan", {}).get("steps", []):
        try:
            start = date.fromisoformat(str(step["start"]))
            end = date.fromisoformat(str(step["end"]))
            mg = float(Decimal(str(step["daily_dose_mg"])))
        except (KeyError, ValueError, ArithmeticError):
            continue
        out.append((start, end, mg, step.get("kind") == "hold"))
    return out


def _axes(x0: float, x1: float, y1: float, y_label: str, x_labels: list[tuple[float, str]]) -> str:
    parts = [
        f'<line x1="{PAD_L}" y1="{H - PAD_B}" x2="{W - PAD_R}" y2="{H - PAD_B}" class="axis"/>',
        f'<line x1="{PAD_L}" y1="{PAD_T}" x2="{PAD_L}" y2="{H - PAD_B}" class="axis"/>',
        f'<text x="4" y="20" class="label">{escape(y_label)}</text>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = H - PAD_B - frac * (H - PAD_T - PAD_B)
        parts.append(
            f'<text x="{PAD_L - 8}" y="{y + 6:.1f}" class="tick" text-anchor="end">'
            f"{y1 * frac:g}</text>"
        )
    for i, (x, text) in enumerate(x_labels):
        anchor = "start" if i == 0 else "end" if i == len(x_labels) - 1 else "middle"
        parts.append(
            f'<text x="{x:.1f}" y="{H - PAD_B + 26}" class="tick" text-anchor="{anchor}">'
            f"{escape(text)}</text>"
        )
    return "".join(parts)


def _svg(name: str, title: str, desc: str, body: str) -> str:
    return (
        f'<svg viewBox="0 0 {W} {H}" role="img" aria-labelledby="{name}-t {name}-d" '
        f'class="chart" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{name}-t">{escape(title)}</title>'
        f'<desc id="{name}-d">{escape(desc)}</desc>{body}</svg>'
    )


# The legend's entries: the CSS class of the mark, the swatch drawn, and what it means.
_LEGEND = {
    "planned": ('<line x1="2" y1="9" x2="26" y2="9" class="planned"/>', "Plan (daily dose)"),
    "recorded": ('<circle cx="14" cy="9" r="6" class="recorded"/>', "Dose recorded"),
    "hold": ('<circle cx="14" cy="9" r="6" class="hold"/>', "Hold recorded (0 mg or noted)"),
    "holdband": ('<rect x="2" y="1" width="24" height="16" class="holdband"/>', "Hold in the plan"),
}


def _legend(shown: list[str]) -> str:
    items = "".join(
        f'<li><svg viewBox="0 0 28 18" width="28" height="18" aria-hidden="true">{_LEGEND[k][0]}'
        f"</svg> {escape(_LEGEND[k][1])}</li>"
        for k in shown
    )
    return f'<ul class="legend" aria-label="Legend">{items}</ul>'


def _scale(days: list[date], top: float) -> tuple[Any, Any, list[tuple[float, str]]]:
    first, last = min(days), max(days)
    span = max((last - first).days, 1)

    def sx(day: date) -> float:
        return PAD_L + (day - first).days / span * (W - PAD_L - PAD_R)

    def sy(value: float) -> float:
        return H - PAD_B - (value / top if top else 0) * (H - PAD_T - PAD_B)

    labels = [(sx(first), first.isoformat())]
    if span > 20:
        middle = first + timedelta(days=span // 2)
        labels.append((sx(middle), middle.isoformat()))
    if last != first:
        labels.append((sx(last), last.isoformat()))
    return sx, sy, labels


def dose_chart(chart: Chart) -> str | None:
    """Planned (latest plan version, step line) vs recorded daily doses; holds marked."""
    planned: list[tuple[date, date, float, bool]] = []
    shown = chart.taper_plan
    if shown is not None and shown.versions:
        planned = planned_steps(shown.versions[-1].plan)
    return dose_svg(planned, [(d.day, float(d.daily_mg), d.note) for d in chart.doses])


def dose_svg(
    planned: list[tuple[date, date, float, bool]], recorded: list[tuple[date, float, str]]
) -> str | None:
    """The dose chart of planned steps and recorded doses, in a figure with its legend."""
    if not planned and not recorded:
        return None
    days = [s[0] for s in planned] + [s[1] for s in planned] + [r[0] for r in recorded]
    top = max([s[2] for s in planned] + [r[1] for r in recorded] + [0.5])
    sx, sy, labels = _scale(days, top)
    body = ""
    for start, end, _, hold in planned:
        if hold:  # a held step: shaded behind the lines
            x0, x1 = sx(start), sx(end + timedelta(days=1))
            body += (
                f'<rect x="{x0:.1f}" y="{PAD_T}" width="{max(x1 - x0, 2):.1f}" '
                f'height="{H - PAD_T - PAD_B}" class="holdband"><title>hold</title></rect>'
            )
    body += _axes(0, 0, top, "mg/day", labels)
    if planned:
        path = f"M{sx(planned[0][0]):.1f} {sy(planned[0][2]):.1f}"
        for _start, end, mg, _hold in planned:
            path += f" V{sy(mg):.1f} H{sx(end + timedelta(days=1)):.1f}"
        body += f'<path d="{path}" class="planned"/>'
    for day, mg, note in recorded:
        hold = mg == 0 or "hold" in note.lower()
        cls = "hold" if hold else "recorded"
        label = f"{day.isoformat()}: {mg:g} mg/day{' (hold)' if hold else ''}"
        body += (
            f'<circle cx="{sx(day):.1f}" cy="{sy(mg):.1f}" r="5" class="{cls}">'
            f"<title>{escape(label)}</title></circle>"
        )
    holds = sum(1 for s in planned if s[3])
    desc = (
        f"{len(planned)} planned steps ({holds} held) and {len(recorded)} recorded doses, "
        f"up to {top:g} mg/day"
    )
    held = [mg == 0 or "hold" in note.lower() for _, mg, note in recorded]
    shown = [
        key
        for key, present in (
            ("planned", bool(planned)),
            ("recorded", not all(held)),
            ("hold", any(held)),
            ("holdband", holds > 0),
        )
        if present
    ]
    svg = _svg("dose", "Daily dose: planned (line) and recorded (dots)", desc, body)
    return f'<figure class="chart">{svg}<figcaption>{_legend(shown)}</figcaption></figure>'


def ciwa_b_trend(chart: Chart) -> str | None:
    """CIWA-B totals over time."""
    points = [(a.taken_at, a.total) for a in chart.assessments if a.instrument == "ciwa-b"]
    if not points:
        return None
    days = [_aware(t).date() for t, _ in points]
    top = float(max(max(total for _, total in points), 10))
    sx, sy, labels = _scale(days, top)
    body = _axes(0, 0, top, "CIWA-B", labels)
    coords = [(sx(day), sy(float(total))) for day, (_, total) in zip(days, points, strict=True)]
    body += '<polyline class="trend" points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    body += '"/>'
    for (x, y), (moment, total) in zip(coords, points, strict=True):
        body += (
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" class="recorded">'
            f"<title>{escape(_aware(moment).date().isoformat())}: {total}</title></circle>"
        )
    return _svg("ciwa", "CIWA-B total over time", f"{len(points)} CIWA-B scores", body)


def timeline(chart: Chart) -> list[Event]:
    """Everything that happened to the patient's record, newest first."""
    events: list[Event] = []
    for i in chart.intakes:
        events.append(
            Event(
                i.recorded_at,
                "intake",
                f"Intake {i.id}" + (f": {i.decision}" if i.decision else ""),
            )
        )
    for p in chart.prescriptions:
        order = p.order
        events.append(
            Event(
                p.recorded_at,
                "prescription",
                f"Checked {order.get('drug', '?')} {order.get('dose', '')} "
                f"{order.get('frequency', '')}: {p.worst_severity or 'no findings'}",
            )
        )
    for t in chart.taper_plans:
        for v in t.versions:
            note = f": {v.note}" if v.note else ""
            events.append(Event(v.recorded_at, "taper", f"Taper plan {t.id} v{v.number}{note}"))
        if t.ended_at is not None:
            why = f": {t.end_reason}" if t.end_reason else ""
            events.append(Event(t.ended_at, "taper", f"Taper plan {t.id} ended{why}"))
    for a in chart.assessments:
        band = a.score.get("band") or ""
        events.append(Event(a.taken_at, "assessment", f"{a.instrument} {a.total} {band}".strip()))
    for s in chart.side_effects:
        events.append(Event(s.reported_at, "side-effect", f"Side-effect report: {s.level}"))
    return sorted(events, key=lambda e: _aware(e.at), reverse=True)
