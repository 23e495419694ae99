"""The command line as a person and a script see it: help grouped by workflow with whole
sentences, a table on a terminal, CSV when piped, JSON or CSV when asked (``--format``)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import pytest

from benzosafe.cli.root import WORKFLOWS

BENZOSAFE = [sys.executable, "-m", "benzosafe"]
TAPER = ["taper", "--drug", "clonazepam", "--dose", "2 mg/day", "--split", "1 mg bid",
         "--start", "2026-12-01", "--reduce", "10%"]  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "80"}
    return subprocess.run([*BENZOSAFE, *args], capture_output=True, text=True, timeout=120, env=env)


def run_on_terminal(*args: str) -> str:
    """What a person at an 80-column terminal sees on standard output."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "80", "TERM": "dumb"}
    with subprocess.Popen([*BENZOSAFE, *args], stdout=follower, stderr=subprocess.PIPE,
                          env=env) as process:  # fmt: skip
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=120)
    os.close(leader)
    assert process.returncode == 0
    return b"".join(chunks).decode("utf-8")


def test_help_lists_every_command_once_under_its_workflow() -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    titles = [title for title, _ in WORKFLOWS]
    found = [line.removesuffix(":") for line in lines if line.removesuffix(":") in titles]
    assert found == titles  # every section, in workflow order
    commands = lines[lines.index(f"{titles[0]}:") :]
    listed = [line.split()[0] for line in commands if line.startswith("  ")]
    assert sorted(listed) == sorted(n for _, names in WORKFLOWS for n in names)
    assert "Other" not in lines and "Commands:" not in lines
    # whole sentences, none cut short at 80 columns, nothing stale
    assert not [line for line in commands if line.endswith("...")]
    assert "until the web app" not in result.stdout


@pytest.mark.parametrize("command", [n for _, names in WORKFLOWS for n in names])
def test_each_command_help_reads_whole(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: ")
    assert "until the web app" not in result.stdout


def test_taper_piped_is_csv_and_asked_formats() -> None:
    piped = run(*TAPER)
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout.startswith("step,start,end,days,kind,drug,daily_dose_mg")
    as_json = json.loads(run(*TAPER, "--format", "json").stdout)
    assert as_json["kind"] == "taper-plan"
    assert json.loads(run(*TAPER, "--json").stdout) == as_json  # --json as before
    clash = run(*TAPER, "--json", "--format", "csv")
    assert clash.returncode == 2 and "--json" in clash.stderr


def test_taper_on_a_terminal_is_a_table() -> None:
    seen = run_on_terminal(*TAPER)
    assert "step" in seen and "mg/day" in seen and "morning" in seen and "night" in seen
    assert "1 start" in seen and "2026-12-01" in seen
    assert "step,start,end" not in seen
    assert "No medicine from 2027-" in seen and "knowledge " in seen
    assert all(len(line) <= 80 for line in seen.splitlines())
    # asked for CSV at a terminal, it is CSV
    assert run_on_terminal(*TAPER, "--format", "csv").startswith("step,start,end")


def test_assess_list_formats() -> None:
    piped = run("assess", "list")
    assert piped.stdout.startswith("id,name,status,items,max_total,draft_reason\n")
    assert "ciwa-b," in piped.stdout
    assert json.loads(run("assess", "list", "--format", "json").stdout)[0]["id"]
    seen = run_on_terminal("assess", "list")
    assert "ciwa-b" in seen and "items, total 0-" in seen and "id,name" not in seen
