"""Render a taper plan to the files asked for, chosen by suffix, all in memory first.

``plan.fhir.json`` is a FHIR R4 Bundle (:mod:`benzosafe.exports.taper_fhir`); any other
``.json`` the plan's own JSON shape.

Every file is rendered before any is written, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from benzosafe.clinical.taper import TaperPlan
from benzosafe.errors import InvalidInput
from benzosafe.knowledge import Knowledge

SUFFIXES = (".pdf", ".ics", ".csv", ".json", ".fhir.json", ".png", ".svg")


def file_kind(path: Path) -> str:
    """The kind of file a path asks for: its suffix, or ``.fhir.json`` (a FHIR Bundle)."""
    name = path.name.lower()
    return ".fhir.json" if name.endswith(".fhir.json") else path.suffix.lower()


def render(plan: TaperPlan, suffix: str, kb: Knowledge, contact: str = "your prescriber") -> bytes:
    """The plan as the bytes of one file kind (the PDF's patient advice from ``kb``)."""
    if suffix == ".pdf":
        from benzosafe.exports.taper_pdf import plan_to_pdf

        return plan_to_pdf(plan, kb, contact)
    if suffix == ".ics":
        from benzosafe.exports.taper_ics import plan_to_ics

        return plan_to_ics(plan, datetime.now(UTC).replace(microsecond=0))
    if suffix in (".png", ".svg"):
        from benzosafe.exports.taper_chart import plan_chart

        return plan_chart(plan, "png" if suffix == ".png" else "svg")
    if suffix == ".fhir.json":
        from benzosafe.exports.taper_fhir import plan_to_fhir_json

        return plan_to_fhir_json(plan, kb)
    from benzosafe.exports.taper_data import plan_to_csv, plan_to_dict

    if suffix == ".csv":
        return plan_to_csv(plan).encode("utf-8")
    if suffix == ".json":
        return json.dumps(plan_to_dict(plan), indent=2, ensure_ascii=False).encode("utf-8")
    raise InvalidInput("out", f"unknown file kind {suffix!r}", SUFFIXES)


def render_outputs(
    plan: TaperPlan, paths: Sequence[Path], kb: Knowledge, contact: str = "your prescriber"
) -> list[tuple[Path, bytes]]:
    """Render every requested file; raise InvalidInput before writing anything."""
    for path in paths:
        if file_kind(path) not in SUFFIXES:
            raise InvalidInput("out", f"{path.name}: unknown file kind", SUFFIXES)
        if not path.parent.is_dir():
            raise InvalidInput("out", f"{path.parent} is not a folder")
    return [(path, render(plan, file_kind(path), kb, contact)) for path in paths]
