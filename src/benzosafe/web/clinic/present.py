"""How the pages present results: identical findings merged, source tags linked to the page's
reference list.

A check can give the same finding by two rules (the panic-disorder and the older-adult
initial dose, with one summary): the page shows it once, at the worse severity, citing both
rules and every source. Each source tag links to ``#ref-<id>``, and :func:`with_references`
adds the list of the sources the page cites, with their titles and addresses, at its end.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from html import escape
from typing import Any

SEVERITY_ORDER = ("info", "warning", "critical")
MARKER = "<!--references-->"
_REF = re.compile(r'href="#ref-([A-Za-z0-9_.-]+)"')


def merge_findings(findings: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Findings with the same code and summary merged into one, in the order first given:
    the worst severity, every rule (``rules``: id and version), every distinct detail and
    every source once."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for f in findings:
        key = (str(f.get("code", "")), str(f.get("summary", "")))
        rule = {"rule": f.get("rule"), "rule_version": f.get("rule_version")}
        if key not in merged:
            merged[key] = {**f, "rules": [rule], "details": [f.get("detail", "")],
                           "sources": list(f.get("sources", []))}  # fmt: skip
            continue
        m = merged[key]
        if rule not in m["rules"]:
            m["rules"].append(rule)
        if f.get("detail", "") not in m["details"]:
            m["details"].append(f.get("detail", ""))
        for s in f.get("sources", []):
            if s not in m["sources"]:
                m["sources"].append(s)
        if _rank(f.get("severity")) > _rank(m.get("severity")):
            m["severity"] = f.get("severity")
    return list(merged.values())


def _rank(severity: object) -> int:
    return SEVERITY_ORDER.index(str(severity)) if severity in SEVERITY_ORDER else -1


def with_references(page: str, sources: Mapping[str, Any]) -> str:
    """The page with the list of the sources its tags link to, where base.html marks it."""
    cited = list(dict.fromkeys(_REF.findall(page)))
    if MARKER not in page:
        return page
    if not cited:
        return page.replace(MARKER, "")
    items = []
    for ref in cited:
        source = sources.get(ref)
        if source is None:
            items.append(f'<li id="ref-{escape(ref)}">[{escape(ref)}] not in the knowledge</li>')
            continue
        title = escape(source.title)
        url = str(getattr(source, "url", "") or "")
        link = f' <a href="{escape(url)}" rel="noreferrer">{escape(url)}</a>' if url else ""
        extra = ", ".join(escape(x) for x in (source.publisher, source.edition) if x)
        items.append(
            f'<li id="ref-{escape(ref)}"><strong>[{escape(ref)}]</strong> {title}'
            f"{'. ' + extra if extra else ''}.{link}</li>"
        )
    section = (
        '<section id="references" aria-labelledby="references-h">'
        '<h2 id="references-h">References</h2><ol class="references">'
        + "".join(items)
        + "</ol></section>"
    )
    return page.replace(MARKER, section)
