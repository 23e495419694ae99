"""Rich rendering of check reports and drug monographs for people at a terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from benzosafe.cli.render import JUDGEMENT, cited, knowledge_line
from benzosafe.clinical.check import CheckReport

SEVERITY_STYLE = {
    "critical": "bold white on red",
    "warning": "bold black on yellow",
    "info": "cyan",
}
DISCLAIMER = (
    f"{JUDGEMENT} Check every finding against the cited source and the patient in front of you."
)


def _refs(sources: list[dict[str, str]]) -> str:
    return cited((s["ref"], s["section"]) for s in sources)


def _range(low: float, high: float, unit: str) -> str:
    return f"{low:g} {unit}" if low == high else f"{low:g}-{high:g} {unit}"


def render_check(report: CheckReport, console: Console) -> None:
    """A table of findings (severity colours, rule id, sources), then what was not evaluated."""
    daily = report.daily_dose_mg
    title = (
        f"{report.drug}: "
        + (f"{daily:f} mg/day" if daily is not None else "dose unknown")
        + (
            f" = {report.diazepam_equivalent_mg_per_day:f} mg/day diazepam equivalent "
            f"({report.equivalence_table} table)"
            if report.diazepam_equivalent_mg_per_day is not None
            else ""
        )
    )
    console.print(Text(title, style="bold"))
    if report.findings:
        table = Table(show_lines=True, expand=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("finding")
        table.add_column("rule", no_wrap=True)
        table.add_column("sources")
        for f in report.findings:
            table.add_row(
                Text(f.severity.upper(), style=SEVERITY_STYLE[f.severity]),
                Text.assemble((f.summary, "bold"), "\n", (f.code, "dim")),
                f"{f.rule} v{f.rule_version}",
                cited((s.ref, s.section) for s in f.sources),
            )
        console.print(table)
    else:
        console.print(Text("No findings from the rules that could be evaluated.", style="green"))
    if report.not_evaluated:
        table = Table(title="Not evaluated (not the same as safe)", expand=True)
        table.add_column("code", no_wrap=True)
        table.add_column("rule", no_wrap=True)
        table.add_column("reason")
        for n in report.not_evaluated:
            table.add_row(n.code, n.rule, n.reason)
        console.print(table)
    line = knowledge_line(report.knowledge_version, report.protocol)
    console.print(Text(f"{line}. {DISCLAIMER}", style="dim"))


def render_monograph(mono: dict[str, Any], console: Console) -> None:
    """The monograph as panels and tables, every fact with its source ids."""
    head = [
        Text.assemble((mono["id"].capitalize(), "bold"), f"  ({', '.join(mono['brands']) or '-'})"),
        Text(
            f"Class: benzodiazepine. DEA Schedule {mono['schedule']['dea_schedule']}"
            + (
                f" (DEA code {mono['schedule']['dea_code']})"
                if mono["schedule"]["dea_code"]
                else ""
            )
            + f" ({_refs(mono['schedule']['sources'])})"
        ),
        Text(f"RxNorm ingredient: {mono['rxnorm_ingredient'] or 'not on record'}"),
    ]
    if "mechanism" in mono:
        head.append(
            Text(f"Mechanism: {mono['mechanism']['text']} ({_refs(mono['mechanism']['sources'])})")
        )
    halves = "; ".join(
        _range(h["low_h"], h["high_h"], "h")
        + (f" ({h['note']})" if h["note"] else "")
        + f" {_refs(h['sources'])}"
        for h in mono["half_lives"]
    )
    head.append(Text(f"Half-life: {halves or 'not on record'}"))
    eq = mono["diazepam_equivalent"]
    eq_text = (
        f"{eq['mg_equal_to_10_mg_diazepam']:g} mg = diazepam 10 mg (used). "
        if eq["mg_equal_to_10_mg_diazepam"] is not None
        else "No diazepam equivalent used. "
    )
    eq_text += "; ".join(
        f"{t['table']}: {_range(t['low_mg'], t['high_mg'], 'mg')} {_refs(t['sources'])}"
        for t in eq["tables"]
    )
    head.append(Text(f"Diazepam equivalent: {eq_text}. {eq['choice']}"))
    console.print(Panel(Group(*head), title="Monograph", expand=True))

    def table(title: str, columns: list[str], rows: list[list[str]]) -> None:
        if not rows:
            return
        t = Table(title=title, expand=True, show_lines=False)
        for c in columns:
            t.add_column(c)
        for r in rows:
            t.add_row(*r)
        console.print(t)

    table(
        "Indications",
        ["indication", "labelled", "detail", "sources"],
        [
            [i["name"], "yes" if i["labelled"] else "off-label", i["detail"], _refs(i["sources"])]
            for i in mono.get("indications", [])
        ],
    )
    table(
        "Products",
        ["form", "strength", "RxNorm", "note", "sources"],
        [
            [
                p["form"],
                f"{p['strength_mg']:g} mg" + ("/mL" if p["per_ml"] else ""),
                p["rxnorm"],
                ("scored; " if p["scored"] else "")
                + ("" if p["us_marketed"] else "not US-approved"),
                _refs(p["sources"]),
            ]
            for p in mono.get("products", [])
        ],
    )
    table(
        "Dosing (rules used by the check)",
        ["rule", "what", "sources"],
        [[r["rule"], f"{r['title']}: {r['text']}", _refs(r["sources"])] for r in mono["dosing"]],
    )
    table(
        "Boxed warnings",
        ["warning", "since", "sources"],
        [
            [f"{w['title']}: {w['text']}", w["since"], _refs(w["sources"])]
            for w in mono.get("boxed_warnings", [])
        ],
    )
    table(
        "Contraindications and cautions (rules used by the check)",
        ["rule", "what", "sources"],
        [
            [r["rule"], f"{r['title']}: {r['text']}", _refs(r["sources"])]
            for r in mono["contraindications"] + mono["cautions"]
        ],
    )
    table(
        "Adverse reactions",
        ["reaction", "frequency", "group", "context", "sources"],
        [
            [a["name"], a["frequency"], a["group"], a["context"], _refs(a["sources"])]
            for a in mono.get("adverse_reactions", [])
        ],
    )
    table(
        "Precautions and interactions",
        ["item", "sources"],
        [
            [f"{w['title']}: {w['text']}", _refs(w["sources"])]
            for w in mono.get("precautions", []) + mono.get("interactions", [])
        ],
    )
    table(
        "Discontinuation",
        ["guidance", "sources"],
        [[d["text"], _refs(d["sources"])] for d in mono.get("discontinuation", [])],
    )
    table(
        "Where the project's source page differs from the label",
        ["source page says", "label", "verdict", "sources"],
        [
            [d["claim"], d["label"], d["verdict"], _refs(d["sources"])]
            for d in mono.get("source_differences", [])
        ],
    )
    table(
        "Illicit market",
        ["fact", "sources"],
        [[d["text"], _refs(d["sources"])] for d in mono.get("illicit_market", [])],
    )
    line = knowledge_line(mono["knowledge_version"], mono.get("protocol"))
    console.print(Text(f"{line}. {DISCLAIMER}", style="dim"))
