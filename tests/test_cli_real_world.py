"""The command line with what clinics write (issue #16): real processes, real exit codes.

Each of the issue's opioids as ``--also-taking`` gives a concurrent-opioid finding and a
non-zero exit (before, each landed in not-evaluated with exit 0); a name nobody knows is a
warning of its own; a malformed NDC is an error naming the option's field; the ordered drug
and the taper's drug may be a brand, a product name or an NDC.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

BENZOSAFE = [sys.executable, "-m", "benzosafe"]
CHECK = [
    "check", "--drug", "clonazepam", "--dose", "0.5 mg", "--frequency", "bid",
    "--indication", "panic-disorder", "--age", "45", "--json",
]  # fmt: skip


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BENZOSAFE, *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    "text",
    [
        "oxycodone/acetaminophen 5/325 mg q6h",
        "Percocet",
        "Norco 10/325",
        "Tylenol #3",
        "Suboxone 8/2 mg daily",
        "promethazine with codeine 5 mL q4h",
    ],
)
def test_the_issues_opioids_fail_the_check(text: str) -> None:
    result = run(*CHECK, "--also-taking", text)
    assert result.returncode == 1, result.stderr
    codes = {f["code"] for f in json.loads(result.stdout)["findings"]}
    assert "concurrent-opioid" in codes and "unknown-co-medication" not in codes


def test_an_unknown_co_medication_is_a_warning_and_a_non_zero_exit() -> None:
    result = run(*CHECK, "--also-taking", "Zyxolam 5 mg bid", "--fail-on", "warning")
    assert result.returncode == 1
    (finding,) = [
        f for f in json.loads(result.stdout)["findings"] if f["code"] == "unknown-co-medication"
    ]
    assert "check it for opioids and CNS depressants by hand" in finding["summary"]


def test_a_malformed_ndc_is_an_error_naming_the_field() -> None:
    result = run(*CHECK, "--also-taking", "0054-01A6-13")
    assert result.returncode == 2 and result.stdout == ""
    assert "also_taking[0]" in result.stderr and "NDC" in result.stderr


def test_the_ordered_drug_may_be_a_product_name() -> None:
    args = [a if a != "clonazepam" else "Klonopin 0.5 mg tablet" for a in CHECK]
    report = json.loads(run(*args, "--fail-on", "never").stdout)
    assert report["drug"] == "clonazepam" and report["diazepam_equivalent_mg_per_day"] == 20.0


def test_a_taper_of_a_brand_name() -> None:
    result = run("taper", "--drug", "Klonopin", "--dose", "1 mg/day", "--split", "0.5 mg bid",
                 "--start", "2026-12-01", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["drug"] == "clonazepam"
