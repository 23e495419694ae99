"""Every patient is accounted for: whoever a measure leaves out of its denominator because a
fact is missing is counted, per measure and reason, in the JSON summary, on the terminal and
in the HTML report, and the same on DuckDB and Spark.

The two patients of issue #19: one with no birth date whose opioid and benzodiazepine
supplies overlap for 60 days (left out of the COB, older-adult and deprescribing
denominators: no age), and one on midazolam, which has no diazepam equivalent and so no dose
band (left out of the high-dose, escalation and deprescribing denominators).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from benzosafe.knowledge import load
from benzosafe.population.engines import DuckDBEngine, Engine, SparkEngine
from benzosafe.population.records import DispensingRecord, write_records
from benzosafe.population.screen import ScreenResult, flag_rows, screen

from .conftest import CASE_START, run_cli


def _fill(patient: str, n: int, day: int, drug: str, birth: str | None) -> DispensingRecord:
    return DispensingRecord(
        fill_id=f"{patient}/{n}",
        patient_id=patient,
        birth_date=birth,
        fill_date=(CASE_START + timedelta(days=day)).isoformat(),
        drug=drug,
        quantity=30.0,  # clonazepam 1 mg a day: the moderate band
        days_supply=30,
        strength_mg=1.0 if drug != "oxycodone" else 5.0,
        prescriber_id="D1",
        pharmacy_id="R1",
    )


def issue_patients() -> list[DispensingRecord]:
    no_birth = [
        _fill("no-birth", n, day, drug, None)
        for n, (day, drug) in enumerate(
            [(0, "oxycodone"), (30, "oxycodone"), (0, "clonazepam"), (30, "clonazepam")]
        )
    ]
    midazolam = [_fill("midazolam", n, 30 * n, "midazolam", "1950-01-01") for n in range(2)]
    return no_birth + midazolam


# rule -> (denominator, not evaluated by reason) of the two patients
EXPECTED = {
    "SCR-COB": (0, {"no_age": 1}),
    "SCR-MPE-OPIOID": (1, {"no_prescriber_or_pharmacy_id": 0}),
    "SCR-MPE-BZD": (2, {"no_prescriber_or_pharmacy_id": 0}),
    "SCR-BZD-LONG-TERM": (2, {}),
    "SCR-BZD-HIGH-DOSE": (1, {"no_dose_band": 1}),
    "SCR-BZD-ESCALATION": (1, {"no_dose_band": 1}),
    "SCR-BZD-EARLY-REFILL": (2, {}),
    "SCR-BZD-OLDER-ADULT": (1, {"no_age": 1}),
    "SCR-BZD-DEPRESCRIBING": (0, {"no_age": 1, "no_dose_band": 1}),
}


def _accounted(rates: list[dict[str, Any]]) -> dict[str, tuple[int, dict[str, int]]]:
    out = {}
    for r in rates:
        assert r["not_evaluated"] == sum(r["not_evaluated_by_reason"].values())
        out[r["rule"]] = (r["denominator"], r["not_evaluated_by_reason"])
    return out


@pytest.fixture(scope="module")
def issue_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("issue19") / "issue19.parquet"
    write_records(issue_patients(), path)
    return path


def test_the_json_summary_terminal_and_report_count_who_is_left_out(
    issue_file: Path, tmp_path: Path
) -> None:
    summary, report = tmp_path / "s.json", tmp_path / "r.html"
    done = run_cli("screen", str(issue_file), "--json", str(summary), "--report", str(report))
    assert done.returncode == 0, done.stderr
    assert _accounted(json.loads(summary.read_text())["rates"]) == EXPECTED
    # the terminal and the report say it in words, per measure and reason
    after = done.stdout.split("Patients not evaluated", 1)[1]
    cells = [[c.strip() for c in line.split("│")[1:4]] for line in after.splitlines()]
    shown = {(rule, n, text.split(" (")[0]) for rule, n, text in (c for c in cells if len(c) == 3)}
    no_age, no_band = "no birth date or age on the fills", "a benzodiazepine without a dose band"
    assert shown - {("", "", "diazepam equivalent)")} == {
        ("SCR-COB", "1", no_age),
        ("SCR-BZD-HIGH-DOSE", "1", no_band),
        ("SCR-BZD-ESCALATION", "1", no_band),
        ("SCR-BZD-OLDER-ADULT", "1", no_age),
        ("SCR-BZD-DEPRESCRIBING", "1", no_age),
        ("SCR-BZD-DEPRESCRIBING", "1", no_band),
    }
    html = report.read_text()
    assert f"<td>1 {no_age}</td>" in html
    assert f"<td>1 {no_band} (no diazepam equivalent)</td>" in html
    assert f"<td>1 {no_age}; 1 {no_band} (no diazepam equivalent)</td>" in html


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_both_engines_count_the_same_patients_not_evaluated(
    issue_file: Path, engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine: Engine
    if engine_name == "duckdb":
        engine = DuckDBEngine()
    else:
        engine = SparkEngine(session=request.getfixturevalue("spark"))
    result: ScreenResult = screen(engine, issue_file, "parquet", load())
    rows = flag_rows(engine)
    engine.close()
    assert _accounted(result.to_dict()["rates"]) == EXPECTED
    # the midazolam patient is an older adult: flagged, with no dose band needed
    assert rows == [("midazolam", "SCR-BZD-OLDER-ADULT", 74.0, ["midazolam/0", "midazolam/1"])]


def test_the_screen_names_the_site_protocol_only_when_one_is_set(
    issue_file: Path, tmp_path: Path
) -> None:
    """#20: the JSON summary, the terminal and the report name the protocol the knowledge
    was laid over (name, version, content hash); without one they are unchanged."""
    example = Path(__file__).resolve().parents[2] / "docs" / "protocols" / "example-clinic.toml"
    outputs = {}
    for name, args in (("none", []), ("protocol", ["--protocol", str(example)])):
        summary, report = tmp_path / f"{name}.json", tmp_path / f"{name}.html"
        done = run_cli(
            *args, "screen", str(issue_file), "--json", str(summary), "--report", str(report)
        )
        assert done.returncode == 0, done.stderr
        outputs[name] = (json.loads(summary.read_text()), done.stdout, report.read_text())
    plain, named = outputs["none"], outputs["protocol"]
    assert "protocol" not in plain[0] and "site protocol" not in plain[1] + plain[2]
    protocol = named[0]["protocol"]
    assert set(protocol) == {"name", "version", "source", "sha256"}
    terminal = " ".join(named[1].split())
    assert f"site protocol {protocol['name']}, version {protocol['version']}" in terminal
    assert protocol["sha256"][:12] in terminal and protocol["sha256"][:12] in named[2]
    assert "<th>site protocol</th>" in named[2]
