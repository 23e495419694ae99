"""`benzosafe taper` as a clinician runs it: real process, real files, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path

import pytest

BENZOSAFE = [sys.executable, "-m", "benzosafe"]
BASE = [
    "taper", "--drug", "clonazepam", "--dose", "2 mg/day", "--split", "1 mg bid",
    "--start", "2026-12-01",
]  # fmt: skip


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BENZOSAFE, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_json_is_the_documented_shape() -> None:
    result = run(*BASE, "--reduce", "10%", "--every", "14d", "--forms",
                 "tablet:0.5,1,2 odt:0.125,0.25", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    steps = plan["steps"]
    assert steps[0]["start"] == "2026-12-01" and steps[-1]["daily_dose_mg"] == 0
    for step in steps:
        assert {"start", "end", "drug", "daily_dose_mg", "administrations"} <= set(step)
        assert isinstance(step["daily_dose_mg"], int | float)
        for adm in step["administrations"]:
            assert {"time", "dose_mg", "units", "take"} <= set(adm)
    for before, after in pairwise(steps):
        end = date.fromisoformat(before["end"])
        assert date.fromisoformat(after["start"]) == end + timedelta(days=1)
        assert after["daily_dose_mg"] <= before["daily_dose_mg"]
    assert plan["equivalence"]["table"] == "ashton"


def test_several_outputs(tmp_path: Path) -> None:
    outs = ["plan.pdf", "plan.ics", "plan.csv", "plan.png", "plan.svg", "plan.json"]
    args = [a for name in outs for a in ("--out", str(tmp_path / name))]
    result = run(*BASE, "--via", "diazepam", "--via-forms", "tablet:2s,5s,10s", *args)
    assert result.returncode == 0, result.stderr
    for name in outs:
        assert (tmp_path / name).stat().st_size > 100, name
    assert (tmp_path / "plan.pdf").read_bytes().startswith(b"%PDF-")
    assert json.loads((tmp_path / "plan.json").read_text())["via"] == "diazepam"


def test_steps_file(tmp_path: Path) -> None:
    steps = tmp_path / "steps.csv"
    steps.write_text("daily_dose,days\n2 mg,14\n1.75 mg,14\n1.5 mg,14\n0 mg,1\n")
    result = run(*BASE, "--steps", str(steps), "--json")
    assert result.returncode == 2
    assert "steps[4]" in result.stderr and "bound" in result.stderr
    result = run(*BASE, "--steps", str(steps), "--json", "--override-reason", "inpatient unit")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["override_reason"] == "inpatient unit"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dose", "2"], "dose: '2' is not a daily dose"),
        (["--dose", "2/day"], "dose: '2' has no unit"),
        (["--drug", "clonazepan"], "drug: unknown drug 'clonazepan'"),
        (["--split", "0.5 mg bid"], "split: the split adds up to 1 mg/day"),
        (["--forms", "tablet:2"], "split: 1 mg at morning cannot be made"),
        (["--reduce", "40%"], "reduce: 40% every 14 days cuts 40"),
        (["--out", "plan.docx"], "out: plan.docx: unknown file kind"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    cmd = list(BASE)
    for flag, value in zip(args[::2], args[1::2], strict=True):
        if flag in cmd:
            cmd[cmd.index(flag) + 1] = value
        else:
            cmd += [flag, value]
    result = run(*cmd, "--out", "plan.pdf", cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []
