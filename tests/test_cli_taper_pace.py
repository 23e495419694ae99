"""`benzosafe taper --reduce 20% --every 14d` shows the starting-pace warning (issue #16)."""

from __future__ import annotations

import json
import subprocess
import sys

BASE = [
    sys.executable, "-m", "benzosafe", "taper", "--drug", "clonazepam", "--dose", "2 mg/day",
    "--split", "1 mg bid", "--start", "2026-12-01", "--forms", "tablet:0.5s odt:0.125",
]  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BASE, *args], capture_output=True, text=True, timeout=120)


def test_a_fast_plan_is_made_with_the_warning_on_the_terminal_and_in_json() -> None:
    result = run("--reduce", "20%", "--every", "14d")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("step,start,end")  # the schedule is still the CSV
    assert "warning: Faster than the guideline's starting pace" in result.stderr
    assert "[TAPER-START-PACE]" in result.stderr
    plan = json.loads(run("--reduce", "20%", "--every", "14d", "--json").stdout)
    found = [f for f in plan["findings"] if f["code"] == "taper-faster-than-starting-pace"]
    assert len(found) == 1 and found[0]["severity"] == "warning"
    assert any(s["ref"] == "J1" for s in found[0]["sources"])


def test_the_default_pace_has_no_pace_warning_and_the_hard_bound_still_refuses() -> None:
    assert "starting pace" not in run("--reduce", "10%", "--every", "14d").stderr
    refused = run("--reduce", "30%", "--every", "14d")
    assert refused.returncode == 2 and "25%" in refused.stderr
