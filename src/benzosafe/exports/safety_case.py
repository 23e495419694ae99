"""The clinical safety case (``docs/safety-case.md``): the hazard log and what the data shows.

The hazard log (each hazard's harm, cause, controls, tests and residual risk) is written by
people in ``docs/hazards.toml``; this module checks it strictly and merges it with the lists
that must never drift from the code, drawn from the knowledge itself: every rule that rests on
a project decision (cites ``PROJECT``), every draft instrument and draft screening measure,
and every source not read in its primary. A test regenerates the page and fails when the
committed one is stale.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from benzosafe.errors import InvalidInput
from benzosafe.knowledge import Knowledge
from benzosafe.knowledge.models import Citation

PROJECT = "PROJECT"


class Hazard(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^HAZ-\d{2}$")
    title: str
    harm: str
    cause: str
    controls: list[str] = Field(min_length=1)
    tests: list[str] = Field(min_length=1)
    residual: str


def read_hazards(path: Path) -> list[Hazard]:
    """The hazard log; a malformed entry is an error naming the hazard and the key."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput("hazards", f"{path}: {exc}") from exc
    items = data.pop("hazard", [])
    if data or not isinstance(items, list):
        raise InvalidInput("hazards", f"{path}: only [[hazard]] tables are expected")
    hazards = []
    for i, item in enumerate(items):
        try:
            hazards.append(Hazard.model_validate(item))
        except ValidationError as exc:
            where = ".".join(str(p) for p in exc.errors()[0]["loc"])
            raise InvalidInput(f"hazard[{i}].{where}", exc.errors()[0]["msg"]) from exc
    ids = [h.id for h in hazards]
    if len(set(ids)) != len(ids):
        raise InvalidInput("hazards", "duplicate hazard ids")
    return hazards


def _project_sections(cites: list[Citation]) -> str:
    return "; ".join(c.section or "(no section)" for c in cites if c.ref == PROJECT)


def project_decisions(kb: Knowledge) -> Iterator[tuple[str, str, str]]:
    """(where, rule id and title, the project decision it cites) for every such rule."""
    for rule in kb.rules.values():
        if any(c.ref == PROJECT for c in rule.sources):
            yield "prescription check", f"{rule.id}: {rule.title}", _project_sections(rule.sources)
    if any(c.ref == PROJECT for c in kb.taper.pace.sources):
        yield "taper", "default pace (`taper.pace`)", _project_sections(kb.taper.pace.sources)
    for taper_rule in kb.taper.rules.values():
        if any(c.ref == PROJECT for c in taper_rule.sources):
            where = f"{taper_rule.id}: {taper_rule.title}"
            yield "taper", where, _project_sections(taper_rule.sources)
    loc = kb.assessment.level_of_care
    for care in [loc.base, *loc.rule]:
        if any(c.ref == PROJECT for c in care.sources):
            yield "level of care", f"{care.id}: {care.summary}", _project_sections(care.sources)
    for effect in kb.assessment.triage.effect:
        if any(c.ref == PROJECT for c in effect.sources):
            where = f"{effect.id}: {effect.name} ({effect.level})"
            yield "triage", where, _project_sections(effect.sources)
    for measure in kb.screening.measure:
        if any(c.ref == PROJECT for c in measure.sources):
            where = f"{measure.id}: {measure.title}"
            yield "screening", where, _project_sections(measure.sources)
    listed = {id(x) for x in _listed(kb)}
    for part, path, item in cited_items(kb):
        if id(item) not in listed and any(c.ref == PROJECT for c in item.sources):
            yield part, _label(path, item), _project_sections(item.sources)


def _listed(kb: Knowledge) -> list[object]:
    """The items :func:`project_decisions` names by their own titles (before the walk)."""
    loc = kb.assessment.level_of_care
    return [
        *kb.rules.values(),
        kb.taper.pace,
        *kb.taper.rules.values(),
        loc.base,
        *loc.rule,
        *kb.assessment.triage.effect,
        *kb.screening.measure,
    ]


PARTS = {
    "taper": "taper",
    "assessment": "assessment",
    "screening": "screening",
    "cds": "CDS Hooks",
}


def cited_items(kb: Knowledge) -> Iterator[tuple[str, str, Any]]:
    """(part, path, item) of every value in the knowledge that carries ``sources``."""

    def walk(obj: Any, path: str) -> Iterator[tuple[str, Any]]:
        if isinstance(obj, BaseModel):
            if isinstance(getattr(obj, "sources", None), list):
                yield path, obj
            for name in type(obj).model_fields:
                yield from walk(getattr(obj, name), f"{path}.{name}")
        elif isinstance(obj, dict):
            for key, value in obj.items():
                yield from walk(value, f"{path}[{key}]")
        elif isinstance(obj, list | tuple):
            for i, value in enumerate(obj):
                yield from walk(value, f"{path}[{i}]")

    for key, part in [("rules", "prescription check"), *PARTS.items()]:
        for path, item in walk(getattr(kb, key), key):
            yield part, path, item


def _label(path: str, item: Any) -> str:
    name = next(
        (
            str(getattr(item, a))
            for a in ("title", "summary", "name", "label")
            if getattr(item, a, None)
        ),
        "",
    )
    ident = getattr(item, "id", None)
    head = f"{ident}" if ident else f"`{path}`"
    return f"{head}: {name}" if name else head


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def safety_case_markdown(kb: Knowledge, hazards: list[Hazard]) -> str:
    """The safety case page: the hazard log, then the lists drawn from the knowledge."""
    out = [
        "# Clinical safety case",
        "",
        "benzosafe is clinical decision support: it informs a clinician and never replaces one.",
        "This page is its hazard log, in the way clinical software standards such as DCB0129",
        "ask: each known hazard, its cause, the controls in benzosafe and the risk that",
        "remains. The lists after the log are generated from the knowledge data, so they always",
        "say what the code does. A deploying organisation's clinical safety officer reviews",
        "them against its own use.",
        "",
        f"Knowledge version: `{kb.version}`",
        "",
        "## Hazard log",
        "",
    ]
    for h in hazards:
        out += [
            f"### {h.id}: {h.title}",
            "",
            f"- **Harm:** {h.harm}",
            f"- **Cause:** {h.cause}",
            "- **Controls:**",
            *(f"    - {c}" for c in h.controls),
            f"- **Tests:** {', '.join(f'`{t}`' for t in h.tests)}",
            f"- **Residual risk:** {h.residual}",
            "",
        ]
    decisions = list(project_decisions(kb))
    out += [
        "## Rules that rest on a project decision",
        "",
        f"{len(decisions)} rules cite `PROJECT`: a decision of the project where the sources",
        "disagree or are silent (HAZ-04). Each should be reviewed before clinical use.",
        "",
        "| part | rule | project decision |",
        "|---|---|---|",
        *(f"| {w} | {_cell(r)} | {_cell(d)} |" for w, r, d in decisions),
        "",
        "## Draft instruments",
        "",
        "Shown with their reason in every score; no band unless a site protocol gives one",
        "(HAZ-03).",
        "",
    ]
    drafts = [i for i in kb.assessment.instruments.values() if i.status == "draft"]
    out += [f"- **{i.name}** (`{i.id}`): {_cell(i.draft_reason)}" for i in drafts] or ["- none"]
    out += ["", "## Draft screening measures", ""]
    measures = [m for m in kb.screening.measure if m.status == "draft"]
    out += [f"- **{m.id}** {m.title}: {_cell(m.draft_reason)}" for m in measures] or ["- none"]
    unverified = [s for s in kb.sources.values() if s.status != "V"]
    out += [
        "",
        "## Sources not read in their primary",
        "",
        "Status S: read in a secondary copy only; U: unverified (HAZ-05).",
        "",
        "| source | status | title | edition |",
        "|---|---|---|---|",
        *(f"| {s.id} | {s.status} | {_cell(s.title)} | {_cell(s.edition)} |" for s in unverified),
        "",
    ]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    """``python -m benzosafe.exports.safety_case [--hazards docs/hazards.toml] [--out PAGE.md]``."""
    import argparse

    from benzosafe.knowledge import load

    parser = argparse.ArgumentParser(prog="python -m benzosafe.exports.safety_case")
    parser.add_argument("--hazards", type=Path, default=Path("docs/hazards.toml"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    text = safety_case_markdown(load(), read_hazards(args.hazards))
    if args.out is None:
        print(text, end="")
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
