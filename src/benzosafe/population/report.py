"""The screening summary as a self-contained HTML page with charts (the terminal table is drawn
by the command line, :mod:`benzosafe.cli.render.screen`).

The HTML has no scripts and no external files: inline SVG bar charts of the per-measure
rates and of the malformed rows by reason, the tables behind them, each measure's rule id,
version, status and sources, and the knowledge version used.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

from benzosafe.knowledge import Knowledge
from benzosafe.knowledge.screening import Measure
from benzosafe.population.screen import ScreenResult, not_evaluated_text

BAR_WIDTH = 360
LABEL_WIDTH = 430  # room for "SCR-BZD-DEPRESCRIBING (decrease >= 10%)" at 12 px


def percent(value: float | None) -> str:
    """A rate as a percentage with one decimal, "n/a" when there is none."""
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _bars(items: list[tuple[str, float, str]], maximum: float) -> str:
    """A horizontal bar chart: (label, value, text shown) per bar."""
    height = 24 * len(items) + 8
    parts = [
        f'<svg class="chart" width="{LABEL_WIDTH + BAR_WIDTH + 80}" height="{height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg">'
    ]
    for i, (label, value, text) in enumerate(items):
        y = 4 + 24 * i
        width = 0 if maximum <= 0 else round(BAR_WIDTH * value / maximum, 1)
        parts.append(
            f'<text x="0" y="{y + 15}" font-size="12">{escape(label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{width}" height="18" fill="#3b6ea8"/>'
            f'<text x="{LABEL_WIDTH + 5 + width}" y="{y + 14}" font-size="12">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _measure_rows(result: ScreenResult, measures: dict[str, Measure]) -> str:
    rows = []
    for rate in result.rates:
        m = measures[rate.rule]
        sources = "; ".join(f"{c.ref} {c.section}".strip() for c in m.sources)
        status = "cited" if m.status == "cited" else f"draft: {m.draft_reason}"
        rows.append(
            f"<tr><td>{escape(m.id)} v{m.version}</td><td>{escape(m.title)}<br>"
            f"<small>{escape(rate.label)}</small></td><td>{rate.numerator}</td>"
            f"<td>{rate.denominator}</td><td>{percent(rate.rate)}</td>"
            f"<td>{escape(not_evaluated_text(rate.not_evaluated_by_reason) or '0')}</td>"
            f"<td>{escape(status)}</td><td><small>{escape(sources)}</small></td></tr>"
        )
    return "\n".join(rows)


def _protocol_row(result: ScreenResult) -> str:
    """The site protocol the knowledge was laid over, when one was (else nothing)."""
    p = result.protocol
    if p is None:
        return ""
    return (
        f"<tr><th>site protocol</th><td>{escape(p.name)}, version {escape(p.version)} "
        f"(sha256 {escape(p.sha256[:12])}; {escape(p.source)})</td></tr>\n"
    )


def render_html(result: ScreenResult, kb: Knowledge) -> str:
    """The report of ``result``; each rate's rule, status and sources come from ``kb``."""
    measures = kb.screening.by_id()
    rate_items = [(f"{r.rule} ({r.label})", r.rate or 0.0, percent(r.rate)) for r in result.rates]
    malformed = sorted(result.malformed.items())
    bad_items = [(reason, float(n), str(n)) for reason, n in malformed]
    bad_chart = (
        _bars(bad_items, max(n for _, n, _ in bad_items))
        if bad_items
        else "<p>No malformed rows.</p>"
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>benzosafe screening report</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 72em; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border: 1px solid #ccc; padding: 4px 8px; vertical-align: top; text-align: left; }}
.note {{ background: #fff6d5; padding: 0.5em 1em; }}
</style></head><body>
<h1>Screening of dispensing records</h1>
<p class="note">Screening flags patterns for a clinician or pharmacist to review; it does not
diagnose misuse and does not replace clinical judgement. Draft measures are project rules
whose definition is not a published standard.</p>
<table>
<tr><th>period</th><td>{escape(result.period_start)} to {escape(result.period_end)}</td></tr>
<tr><th>rows read</th><td>{result.rows_read}</td></tr>
<tr><th>rows screened</th><td>{result.rows_screened}</td></tr>
<tr><th>rows outside the period</th><td>{result.rows_outside_period}</td></tr>
<tr><th>malformed rows</th><td>{sum(result.malformed.values())}</td></tr>
<tr><th>patients</th><td>{result.patients}</td></tr>
<tr><th>engine</th><td>{escape(result.engine)} ({result.seconds} s)</td></tr>
<tr><th>knowledge version</th><td>{escape(result.knowledge_version)}
 (screening measures v{escape(result.screening_version)})</td></tr>
{_protocol_row(result)}</table>
<h2>Rates per measure</h2>
{_bars(rate_items, 1.0)}
<table><tr><th>rule</th><th>measure</th><th>flagged</th><th>of</th><th>rate</th>
<th>not evaluated (left out of &ldquo;of&rdquo;: a fact missing)</th>
<th>status</th><th>sources</th></tr>
{_measure_rows(result, measures)}
</table>
<h2>Malformed rows by reason</h2>
{bad_chart}
<table><tr><th>reason</th><th>rows</th></tr>
{"".join(f"<tr><td>{escape(k)}</td><td>{v}</td></tr>" for k, v in malformed)}
</table>
</body></html>
"""


def write_html(result: ScreenResult, path: Path, kb: Knowledge) -> None:
    path.write_text(render_html(result, kb), encoding="utf-8")
