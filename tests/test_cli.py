"""The command line as a prescriber or pharmacist uses it: real processes, real exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENZOSAFE = [sys.executable, "-m", "benzosafe"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BENZOSAFE, *args], capture_output=True, text=True, timeout=60)


CHECK = [
    "check", "--drug", "clonazepam", "--dose", "0.5 mg", "--frequency", "tid",
    "--indication", "seizure-disorder", "--age", "70", "--weight", "60 kg",
    "--prior-dose", "1 mg/day", "--prior-start", "2026-11-01", "--start", "2026-11-20",
    "--duration-days", "90", "--refills", "2", "--condition", "sleep-apnoea",
    "--also-taking", "oxycodone 10 mg qid",
]  # fmt: skip


def test_check_json_is_the_public_shape() -> None:
    result = run(*CHECK, "--json")
    assert result.returncode == 1, result.stderr  # warnings and a critical finding
    report = json.loads(result.stdout)
    assert set(report) >= {
        "findings", "not_evaluated", "daily_dose_mg",
        "diazepam_equivalent_mg_per_day", "knowledge_version",
    }  # fmt: skip
    codes = {f["code"] for f in report["findings"]}
    assert codes == {"concurrent-opioid", "older-adult", "caution-condition"}
    for finding in report["findings"]:
        assert set(finding) == {
            "code", "severity", "summary", "detail", "rule", "rule_version", "sources",
        }  # fmt: skip
        assert finding["sources"] and len(finding["summary"]) < 140
    opioid = next(f for f in report["findings"] if f["code"] == "concurrent-opioid")
    assert "60 MME/day" in opioid["summary"]  # oxycodone 10 mg x 4 x 1.5 (CDC 2022)


def test_check_for_people_shows_rules_and_sources() -> None:
    result = run(*CHECK)
    assert result.returncode == 1
    assert "BZD-OPIOID" in result.stdout and "[L1]" in result.stdout
    assert "never replaces" in result.stdout


def test_fail_on_levels() -> None:
    assert run(*CHECK, "--fail-on", "never").returncode == 0
    assert run(*CHECK, "--fail-on", "critical").returncode == 1
    quiet = [
        "check", "--drug", "Klonopin", "--dose", "0.25 mg", "--frequency", "bid",
        "--indication", "panic-disorder", "--age", "30", "--duration-days", "30",
    ]  # fmt: skip
    result = run(*quiet, "--json")
    assert result.returncode == 0, result.stdout
    assert json.loads(result.stdout)["findings"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dose", "0.5"], "order.dose: '0.5' has no unit"),
        (["--frequency", "hourly-ish"], "unknown frequency"),
        (["--indication", "headache"], "unknown indication"),
        (["--weight", "60"], "patient.weight"),
    ],
)
def test_bad_input_exits_2_with_a_message(args: list[str], message: str) -> None:
    base = {"--drug": "clonazepam", "--dose": "0.5 mg", "--frequency": "tid",
            "--indication": "seizure-disorder", "--age": "40"}  # fmt: skip
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    flat = [x for pair in base.items() for x in pair]
    result = run("check", *flat)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_check_from_input_file(tmp_path: Path) -> None:
    order = tmp_path / "order.json"
    order.write_text(json.dumps({
        "order": {"drug": "clonazepam", "dose": "2.5 mg", "frequency": "bid",
                  "indication": "panic-disorder", "prior_dose": "4 mg/day",
                  "prior_start": "2026-01-01", "start": "2026-11-20"},
        "patient": {"age": 35},
    }))  # fmt: skip
    result = run("check", "--input", str(order), "--json")
    assert result.returncode == 1
    rules = {f["rule"] for f in json.loads(result.stdout)["findings"]}
    assert "CLZ-DOSE-PANIC-MAX" in rules
    both = run("check", "--input", str(order), "--age", "40")
    assert both.returncode == 2 and "not both" in both.stderr
    order.write_text("{not json")
    bad = run("check", "--input", str(order))
    assert bad.returncode == 2 and "not valid JSON" in bad.stderr


def test_drug_monograph_by_brand_and_json() -> None:
    result = run("drug", "Klonopin", "--json")
    assert result.returncode == 0
    mono = json.loads(result.stdout)
    assert mono["id"] == "clonazepam" and mono["schedule"]["dea_schedule"] == "IV"
    assert {p["rxnorm"] for p in mono["products"]} >= {"197527", "349194"}
    assert any(not i["labelled"] for i in mono["indications"])
    people = run("drug", "clonazepam")
    assert "Boxed warnings" in people.stdout and "CLZ-DOSE-SEIZURE-MAX" in people.stdout
    unknown = run("drug", "etizolam")
    assert unknown.returncode == 2 and "not in the knowledge base" in unknown.stderr


def test_knowledge_validate() -> None:
    result = run("knowledge", "validate")
    assert result.returncode == 0 and "valid" in result.stdout


def test_demo_runs() -> None:
    result = run("demo")
    assert result.returncode == 0, result.stderr
    assert "Example check" in result.stdout and "BZD-OPIOID" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["assess", "questionnaire", "nosuch"], "instrument: unknown instrument 'nosuch'"),
        (["triage", ""], "report: give one or more non-empty descriptions"),
        (["level-of-care", "--input", "LIST"], "intake: expected an object"),
        (["synth", "dispensing", "--patients", "5", "--out", "pop.txt"], "out: pop.txt: unknown"),
        (["screen", "missing.parquet"], "input: missing.parquet does not exist"),
        (["drug-map", "import-cdc", "missing.xlsx", "--out", "map.csv"], "workbook: cannot read"),
    ],
    ids=["assess", "triage", "level-of-care", "synth", "screen", "drug-map"],
)
def test_every_command_group_reports_errors_the_same_way(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """One line on stderr, exit 2, nothing on stdout and nothing written, whichever command."""
    (tmp_path / "list.json").write_text("[]", encoding="utf-8")
    args = [str(tmp_path / "list.json") if a == "LIST" else a for a in args]
    result = subprocess.run(
        [*BENZOSAFE, *args], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"benzosafe: {message}"), result.stderr
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.json"]
