"""A site protocol at the command line: validated, shown, and named on every output it changes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENZOSAFE = [sys.executable, "-m", "benzosafe"]
EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "protocols" / "example-clinic.toml"
HEAD = '[protocol]\nname = "Test clinic"\nversion = "7"\nsource = "Test clinic policy 7.1"\n'
CIWA = ["assess", "ciwa-b", "--answers", ",".join(["2"] * 20), "--json"]
TAPER = [
    "taper", "--drug", "clonazepam", "--dose", "8 mg/day", "--split", "4 mg bid",
    "--start", "2026-12-01", "--json",
]  # fmt: skip


def run(*args: str, protocol: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "BENZOSAFE_PROTOCOL"}
    if protocol is not None:
        env["BENZOSAFE_PROTOCOL"] = str(protocol)
    return subprocess.run([*BENZOSAFE, *args], capture_output=True, text=True, timeout=120, env=env)


def _json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_validate_accepts_the_example_and_lists_its_changes() -> None:
    result = run("protocol", "validate", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert "instruments.ciwa-b.bands" in result.stdout
    assert "taper.pace: 10% every 14 days -> 5% every 14 days" in result.stdout
    assert "valid" in result.stdout


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ("[taper]\nreduce_percent = 20\n", "taper.reduce_percent"),
        ("[taper]\nmax_reduction_percent = 50\n", "taper.max_reduction_percent"),
        ('[level_of_care]\nimminent-risk-of-harm = "outpatient-taper"\n', "level_of_care."),
        ('[triage]\nseizure = "self-care"\n', "triage.seizure"),
        ('[dose_limits]\nCLZ-DOSE-PANIC-MAX = "8 mg/day"\n', "dose_limits.CLZ-DOSE-PANIC-MAX"),
        ('[equivalence]\ntable = "guess"\n', "equivalence.table"),
        ("[instruments.ciwa-b]\nbands = [{ min = 0, max = 10, label = 'x' }]\n", "instruments"),
        ("[colour]\nx = 1\n", "colour"),
    ],
)
def test_validate_refuses_what_loosens_or_is_unknown_naming_the_key(
    body: str, key: str, tmp_path: Path
) -> None:
    path = tmp_path / "p.toml"
    path.write_text(HEAD + body, encoding="utf-8")
    result = run("protocol", "validate", str(path))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"benzosafe: {key}")


def test_a_refused_protocol_stops_every_command(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(HEAD + "[taper]\nreduce_percent = 20\n", encoding="utf-8")
    result = run(*CIWA, protocol=path)
    assert result.returncode == 2
    assert "taper.reduce_percent" in result.stderr
    missing = run(*CIWA, protocol=tmp_path / "nope.toml")
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_show_names_the_protocol_in_force() -> None:
    none = run("protocol", "show", "--json")
    assert _json(none) == {"protocol": None, "changes": []}
    shown = _json(run("protocol", "show", "--json", protocol=EXAMPLE))
    assert shown["protocol"]["name"] == "Example Clinic benzodiazepine protocol"
    assert len(shown["protocol"]["sha256"]) == 64
    flag = _json(run("--protocol", str(EXAMPLE), "protocol", "show", "--json"))
    assert flag == shown


def test_ciwa_b_gets_the_protocols_band_and_names_its_source() -> None:
    default = _json(run(*CIWA))
    assert default["band"] is None and "protocol" not in default
    banded = _json(run(*CIWA, protocol=EXAMPLE))
    assert banded["total"] == 40 and banded["band"] == "moderate"
    assert {"ref": "PROTOCOL", "section": "instruments.ciwa-b.bands"} in banded["sources"]
    assert banded["protocol"]["source"].startswith("Example Clinic policy 12.3")
    text = run("assess", "ciwa-b", "--answers", ",".join(["2"] * 20), protocol=EXAMPLE)
    assert "site protocol Example Clinic benzodiazepine protocol, version 2026-12" in text.stdout


def test_a_new_taper_follows_the_protocols_default_pace() -> None:
    default = _json(run(*TAPER))
    slower = _json(run(*TAPER, protocol=EXAMPLE))
    assert "protocol" not in default and slower["protocol"]["version"] == "2026-12"
    assert "5% of the current dose every 14 days" in slower["strategy"]
    assert "10% of the current dose every 14 days" in default["strategy"]
    # 8 mg/day in 0.125 mg units: the first cut is 0.75 mg at 10%, 0.375 mg at 5%
    cuts = [8 - plan["steps"][1]["daily_dose_mg"] for plan in (default, slower)]
    assert cuts == [0.75, 0.375]
    assert slower["total_days"] > default["total_days"]


def test_the_equivalence_table_of_the_protocol_is_used_and_named(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text(HEAD + '[equivalence]\ntable = "va-dod"\n', encoding="utf-8")
    check = ["check", "--drug", "clonazepam", "--dose", "1 mg", "--frequency", "bid",
             "--indication", "panic-disorder", "--age", "40", "--fail-on", "never",
             "--json"]  # fmt: skip
    default = _json(run(*check))
    vadod = _json(run(*check, protocol=path))
    assert default["diazepam_equivalent_mg_per_day"] == 40  # 2 mg at 0.5 mg = 10 mg
    assert vadod["diazepam_equivalent_mg_per_day"] == 20  # 2 mg at 1 mg = 10 mg
    assert "protocol" not in default and vadod["protocol"]["name"] == "Test clinic"


def test_level_of_care_is_raised_as_the_protocol_says(tmp_path: Path) -> None:
    intake = tmp_path / "intake.json"
    intake.write_text(
        json.dumps(
            {"drug": "clonazepam", "daily_dose": "2 mg/day", "withdrawal_seizure_history": True}
        ),
        encoding="utf-8",
    )
    args = ("level-of-care", "--input", str(intake), "--json")
    default = _json(run(*args))
    raised = _json(run(*args, protocol=EXAMPLE))
    assert default["level"] == "intensive-outpatient"
    assert raised["level"] == "inpatient-medically-managed"
    assert raised["protocol"]["name"] == "Example Clinic benzodiazepine protocol"


def test_the_pdf_names_the_protocol(tmp_path: Path) -> None:
    from pypdf import PdfReader

    out = tmp_path / "plan.pdf"
    result = run(*TAPER[:-1], "--out", str(out), protocol=EXAMPLE)
    assert result.returncode == 0, result.stderr
    text = " ".join((page.extract_text() or "") for page in PdfReader(out).pages)
    assert "site protocol Example Clinic benzodiazepine protocol" in " ".join(text.split())
