"""Screening a synthetic population finds every planted case and no unplanted one."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benzosafe.knowledge import load
from benzosafe.population.engines import DuckDBEngine
from benzosafe.population.screen import ScreenOptions, flag_rows, screen
from benzosafe.population.synth import write_population

from .conftest import run_cli


def test_cli_synth_then_screen_finds_exactly_the_planted_flags(tmp_path: Path) -> None:
    data = tmp_path / "dispensing.parquet"
    made = run_cli("synth", "dispensing", "--patients", "2000", "--out", str(data))
    assert made.returncode == 0, made.stderr
    truth = json.loads((tmp_path / "dispensing.truth.json").read_text())
    flags, report, summary = tmp_path / "flags.parquet", tmp_path / "r.html", tmp_path / "s.json"
    ran = run_cli(
        "screen",
        str(data),
        "--out",
        str(flags),
        "--report",
        str(report),
        "--json",
        str(summary),
        "--exclusions",
        str(tmp_path / "dispensing.exclusions.csv"),
    )
    assert ran.returncode == 0, ran.stderr
    table = pq.read_table(flags).to_pylist()
    found = sorted([row["patient_id"], row["rule"]] for row in table)
    assert found == truth["flags"]
    assert all(row["evidence"] and row["sources"] and row["rule_version"] for row in table)
    result = json.loads(summary.read_text())
    assert result["malformed"] == dict(sorted(truth["malformed"].items()))
    assert result["rows_read"] == truth["rows"]
    assert "SCR-COB" in ran.stdout and "PQA1" in ran.stdout  # each rate with its sources
    assert f"Malformed rows: {sum(truth['malformed'].values())} (left out)" in ran.stdout
    html = report.read_text()
    assert (
        "<svg" in html and "SCR-BZD-DEPRESCRIBING" in html and result["knowledge_version"] in html
    )


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(patients=st.integers(min_value=1, max_value=120), seed=st.integers(0, 10_000))
def test_any_synthetic_population_screens_to_its_truth(
    tmp_path: Path, patients: int, seed: int
) -> None:
    out = tmp_path / f"p{patients}-{seed}.parquet"
    paths = write_population(patients, out, load(), seed)
    truth = json.loads(paths["truth"].read_text())
    with paths["exclusions"].open() as handle:
        exclusions = tuple((r["patient_id"], r["reason"]) for r in csv.DictReader(handle))
    engine = DuckDBEngine()
    result = screen(engine, out, "parquet", load(), ScreenOptions(exclusions=exclusions))
    found = sorted([p, r] for p, r, _, _ in flag_rows(engine))
    engine.close()
    assert found == truth["flags"]
    assert sum(result.malformed.values()) == sum(truth["malformed"].values())
    for rate in result.rates:
        assert 0 <= rate.numerator <= rate.denominator
    births: dict[str, set[str]] = {}
    for row in pq.read_table(out, columns=["patient_id", "birth_date"]).to_pylist():
        births.setdefault(row["patient_id"], set()).add(str(row["birth_date"]))
    assert all(len(b) == 1 for b in births.values())  # malformed rows keep their patient's
