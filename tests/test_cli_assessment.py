"""assess, triage and level-of-care as a treatment team uses them: real processes, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENZOSAFE = [sys.executable, "-m", "benzosafe"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BENZOSAFE, *args], capture_output=True, text=True, timeout=60)


def bad(result: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 2, a clear message on stderr, no traceback, nothing on stdout."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    for word in words:
        assert word in result.stderr, result.stderr


def test_assess_list() -> None:
    result = run("assess", "list", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {"ciwa-b", "bwsq", "sds", "dsm5"}
    assert rows["ciwa-b"]["status"] == "draft" and rows["ciwa-b"]["draft_reason"]
    text = run("assess", "list").stdout
    assert "draft" in text and "validated" in text


def test_assess_sds_json_is_the_public_shape() -> None:
    result = run("assess", "sds", "--answers", "2,2,1,1,0", "--age", "70", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"instrument", "total", "band", "items", "partial", "interpretation", "sources"} <= set(
        out
    )
    assert (out["instrument"], out["total"], out["band"], out["partial"]) == (
        "sds",
        6,
        "likely-dependence",
        False,
    )
    assert out["cutoff"].startswith("6 or more")


def test_assess_from_an_input_file(tmp_path: Path) -> None:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"answers": [0] * 9 + [1, 1], "medical_supervision": True}))
    out = json.loads(run("assess", "dsm5", "--input", str(path), "--json").stdout)
    assert (out["total"], out["band"]) == (0, "not-met")
    path.write_text(json.dumps([4] * 20))
    result = run("assess", "ciwa-b", "--input", str(path))
    assert result.returncode == 0
    assert "DRAFT" in result.stdout and "total 80 of 80: no band" in result.stdout


def test_assess_dsm5_with_the_supervision_flag() -> None:
    answers = ",".join(["1"] * 11)
    out = json.loads(
        run("assess", "dsm5", "--answers", answers, "--no-medical-supervision", "--json").stdout
    )
    assert (out["total"], out["band"]) == (11, "severe")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["assess", "sds", "--answers", "1,2,3,4,5"], ["answers.sds-4", "allowed: 0, 1, 2, 3"]),
        (["assess", "sds", "--answers", "1,2"], ["answers.sds-3", "missing"]),
        (["assess", "sds", "--answers", "1,x,0,0,0"], ["answer 2", "not a whole number"]),
        (["assess", "sds"], ["--answers"]),
        (["assess", "dsm5", "--answers", "0,0,0,0,0,0,0,0,0,0,0"], ["medical_supervision"]),
        (["assess", "bwsq", "--answers", "0,3"], ["answers.bwsq-2", "allowed: 0, 1, 2"]),
        (["assess", "sds", "--input", "/nonexistent.json"], ["cannot read"]),
        (["assess", "questionnaire", "ciwa-ar"], ["unknown instrument", "sds"]),
    ],
)
def test_assess_bad_input_exits_2_with_a_clear_message(args: list[str], words: list[str]) -> None:
    bad(run(*args), *words)


def test_fhir_questionnaire_and_response_from_the_command_line(tmp_path: Path) -> None:
    q = json.loads(run("assess", "questionnaire", "sds").stdout)
    assert q["resourceType"] == "Questionnaire"
    items = [
        {"linkId": i["linkId"], "answer": [{"valueCoding": i["answerOption"][3]["valueCoding"]}]}
        for i in q["item"]
        if i["type"] == "choice"
    ]
    qr = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": q["url"],
        "status": "completed",
        "item": items,
    }
    path = tmp_path / "qr.json"
    path.write_text(json.dumps(qr))
    obs = json.loads(run("assess", "response", "--input", str(path)).stdout)
    assert (obs["resourceType"], obs["valueInteger"], obs["status"]) == ("Observation", 15, "final")


def test_triage_json_is_the_public_shape() -> None:
    result = run("triage", "chest pain", "dizzy", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"level", "matched", "unrecognised", "advice", "sources"} <= set(out)
    assert out["level"] == "emergency"
    assert [m["id"] for m in out["matched"]] == ["chest-pain", "dizziness"]


def test_triage_text_shows_crisis_advice_and_unrecognised() -> None:
    result = run("triage", "suicidal thoughts", "wobbly elbows")
    assert result.returncode == 0
    assert "EMERGENCY" in result.stdout and "988" in result.stdout
    assert "NOT RECOGNISED: 'wobbly elbows'" in result.stdout


def test_triage_needs_a_description() -> None:
    bad(run("triage", "  "), "report")


def test_level_of_care_json(tmp_path: Path) -> None:
    path = tmp_path / "intake.json"
    path.write_text(
        json.dumps(
            {
                "drug": "clonazepam",
                "daily_dose": "2 mg/day",
                "duration_of_use_months": 18,
                "withdrawal_seizure_history": True,
                "other_substances": ["alcohol"],
                "age": 52,
                "ciwa_b_total": 12,
            }
        )
    )
    result = run("level-of-care", "--input", str(path), "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"level", "reasons", "not_assessed"} <= set(out)
    assert out["level"] == "intensive-outpatient"
    rules = [r["rule"] for r in out["reasons"]]
    assert "LOC-WITHDRAWAL-COMPLICATION-HISTORY" in rules and "LOC-SEDATIVE-ALCOHOL-USE" in rules
    assert all({"code", "rule", "sources"} <= set(r) for r in out["reasons"])
    assert "suicidality" in out["not_assessed"]
    assert out["dose_band"] == "high"
    text = run("level-of-care", "--input", str(path)).stdout
    assert "INTENSIVE-OUTPATIENT" in text and "Never stop abruptly" in text


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"drug": "clonazepam", "mood": "ok"}', ["mood", "unknown key"]),
        ('{"suicidality": "maybe"}', ["suicidality", "true or false"]),
        ('{"drug": "clonazepam", "daily_dose": "2"}', ["daily_dose", "2 mg/day"]),
        ("[1, 2]", ["intake"]),
        ("{not json", ["not valid JSON"]),
    ],
)
def test_level_of_care_bad_input(tmp_path: Path, content: str, words: list[str]) -> None:
    path = tmp_path / "intake.json"
    path.write_text(content)
    bad(run("level-of-care", "--input", str(path), "--json"), *words)
    assert path.read_text() == content  # nothing changed
