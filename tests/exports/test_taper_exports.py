"""Rendered taper plans: golden PDF text, ICS and CSV; the ICS parses as a calendar; the
chart is a real PNG/SVG. Regenerate the golden files with BENZOSAFE_REGEN_GOLDEN=1."""

from __future__ import annotations

import io
import os
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Literal

import pytest
from icalendar import Calendar
from pypdf import PdfReader

from benzosafe.clinical.taper import TaperPlan, adjust_plan, parse_taper_request, plan_taper
from benzosafe.exports.taper_chart import plan_chart
from benzosafe.exports.taper_data import plan_to_csv, plan_to_dict
from benzosafe.exports.taper_ics import plan_to_ics
from benzosafe.exports.taper_pdf import plan_to_pdf
from benzosafe.knowledge import load

GOLDEN = Path(__file__).resolve().parent / "golden"
REGEN = os.environ.get("BENZOSAFE_REGEN_GOLDEN") == "1"
STAMP = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
KB = load()


def golden_plan() -> TaperPlan:
    """2 mg/day clonazepam, 1 mg twice a day, 10% every 14 days, with a hold mid-way."""
    request = parse_taper_request(
        KB,
        drug="clonazepam",
        dose="2 mg/day",
        split="1 mg bid",
        start="2026-12-01",
        reduce="10%",
        every="14d",
        forms="tablet:0.5 odt:0.125",
        by="Dr A. Example",
    )
    plan = plan_taper(request, KB)
    return adjust_plan(
        plan,
        KB,
        on=date(2027, 2, 12),
        reason="rebound anxiety after the last cut",
        by="Dr A. Example",
        tolerability="hard to bear",
    )


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{name} missing: run with BENZOSAFE_REGEN_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed (BENZOSAFE_REGEN_GOLDEN=1)"


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    text = "\n\f\n".join(page.extract_text() for page in reader.pages)
    # the knowledge version changes with any data file: keep it out of the golden text
    return re.sub(r"Knowledge version [^\n]*", "Knowledge version (current)", text)


def test_csv_golden() -> None:
    check_golden("taper-plan.csv", plan_to_csv(golden_plan()))


def test_ics_golden_and_parses_as_a_calendar() -> None:
    plan = golden_plan()
    data = plan_to_ics(plan, STAMP)
    check_golden("taper-plan.ics", data.decode("utf-8").replace("\r\n", "\n"))
    cal = Calendar.from_ical(data)
    events = list(cal.walk("VEVENT"))
    assert len(events) == len(plan.steps)
    for event, step in zip(events, plan.steps, strict=True):
        assert event.decoded("dtstart") == step.start
        assert event.decoded("dtend") == step.start + timedelta(days=1)
        alarms = list(event.walk("VALARM"))
        assert len(alarms) == 1 and alarms[0]["action"] == "DISPLAY"
    assert "new dose 1.875 mg/day" in str(events[1]["summary"])
    assert "hold at" in str(events[6]["summary"])
    assert "stop" in str(events[-1]["summary"])
    assert len({str(e["uid"]) for e in events}) == len(events)


def test_pdf_text_golden() -> None:
    plan = golden_plan()
    data = plan_to_pdf(plan, KB, contact="Dr A. Example, clinic 555-0100")
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    check_golden("taper-plan.pdf.txt", text)
    assert "Your clonazepam taper schedule" in text
    assert "Whom to call: Dr A. Example, clinic 555-0100" in text
    assert "Clinician summary" in text and "TAPER-WINDOW-MAX" in text
    assert "rebound anxiety after the last cut" in text


def test_pdf_is_reproducible() -> None:
    plan = golden_plan()
    assert plan_to_pdf(plan, KB) == plan_to_pdf(plan, KB)


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_chart(fmt: Literal["png", "svg"]) -> None:
    data = plan_chart(golden_plan(), fmt)
    if fmt == "png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        width = int.from_bytes(data[16:20], "big")
        assert width > 400
    else:
        root = ET.fromstring(data)
        assert root.tag.endswith("svg")
        assert b"hold" in data  # the hold is in the legend


def test_json_steps_contract() -> None:
    plan = golden_plan()
    data = plan_to_dict(plan)
    steps = data["steps"]
    assert [s["start"] for s in steps] == sorted(s["start"] for s in steps)
    for before, after in pairwise(steps):
        end = date.fromisoformat(before["end"])
        assert date.fromisoformat(after["start"]) == end + timedelta(days=1)
    first = steps[0]
    assert first["drug"] == "clonazepam" and first["daily_dose_mg"] == 2
    assert first["administrations"][0] == {
        "time": "morning",
        "drug": "clonazepam",
        "dose_mg": 1,
        "take": "2 \u00d7 0.5 mg tablet",
        "units": [{"form": "tablet", "strength_mg": 0.5, "count": 2}],
    }
    assert steps[-1]["daily_dose_mg"] == 0 and steps[-1]["administrations"] == []
    assert data["history"][-1]["version"] == 2
