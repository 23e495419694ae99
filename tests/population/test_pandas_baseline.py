"""The full pandas baseline of ``bench/pandas_screen.py`` gives the DuckDB screen's output.

The benchmark compares DuckDB with a pandas version that computes the same thing: every
flag with its value and evidence, each measure's rates, the malformed rows by reason. These
tests hold the two to that on tables that reach the rules' edges: the rule cases of
screening.toml (window edges, ties, exclusions, several ingredients), the same cases with an
``age`` column instead of a birth date, tie-heavy random populations with fills lacking a
prescriber, pharmacy or birth date, fills listed twice and patients with many prescribers,
and a synthetic population with malformed rows and exclusions.
"""

from __future__ import annotations

import csv
import dataclasses
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benzosafe.knowledge import load
from benzosafe.population.engines import DuckDBEngine
from benzosafe.population.records import DispensingRecord, records_table, write_records
from benzosafe.population.screen import ScreenOptions, flag_rows, screen
from benzosafe.population.synth import write_population

from .conftest import case_records, load_bench
from .test_baseline_agreement import population
from .test_measures import end_day_twins

baseline = load_bench("pandas_screen")


def _both(path: Path, exclusions: Sequence[tuple[str, str]] = ()) -> tuple[Any, Any]:
    """(DuckDB's, pandas') flags, rates and counts of the table at ``path``."""
    engine = DuckDBEngine()
    result = screen(engine, path, "parquet", load(), ScreenOptions(exclusions=tuple(exclusions)))
    rows = flag_rows(engine)
    engine.close()
    rates = [
        (r.rule, r.label, r.numerator, r.denominator, r.not_evaluated, r.not_evaluated_by_reason)
        for r in result.rates
    ]
    duck = (rows, rates, result.malformed, result.rows_screened, result.patients)
    full = baseline.screen_full(pd.read_parquet(path), exclusions)
    mine = (
        baseline.flag_rows(full.flags),
        full.rates,
        full.malformed,
        full.rows_screened,
        full.patients,
    )
    return duck, mine


def _assert_same(duck: Any, mine: Any) -> None:
    rows, rates, malformed, screened, patients = duck
    assert mine[1] == rates
    assert mine[2:] == (malformed, screened, patients)
    theirs = {(p, r): (v, e) for p, r, v, e in rows}
    ours = {(p, r): (v, e) for p, r, v, e in mine[0]}
    assert sorted(ours.keys() - theirs.keys()) == []
    assert sorted(theirs.keys() - ours.keys()) == []
    assert [(k, theirs[k], ours[k]) for k in sorted(theirs) if theirs[k] != ours[k]] == []


def test_the_rule_cases(cases_file: tuple[Path, list[tuple[str, str]]]) -> None:
    path, exclusions = cases_file
    duck, mine = _both(path, exclusions)
    _assert_same(duck, mine)
    # every measure fires on its cases, so each one's values and evidence are compared
    assert {rule for _, rule, _, _ in duck[0]} == {rate[0] for rate in duck[1]}


def test_fills_given_twice_on_an_end_day(tmp_path: Path) -> None:
    path = tmp_path / "twins.parquet"
    write_records(end_day_twins(), path)
    duck, mine = _both(path)
    _assert_same(duck, mine)
    flagged = {(patient, rule) for patient, rule, _, _ in duck[0]}
    assert {("dup", "SCR-BZD-ESCALATION"), ("drop", "SCR-BZD-DEPRESCRIBING")} <= flagged


def test_the_rule_cases_with_an_age_column(tmp_path: Path) -> None:
    records, exclusions = case_records()
    table = records_table(records).to_pandas()
    fill, birth = pd.to_datetime(table["fill_date"]), pd.to_datetime(table["birth_date"])
    before = fill.dt.month * 100 + fill.dt.day < birth.dt.month * 100 + birth.dt.day
    table["age"] = fill.dt.year - birth.dt.year - before.astype(int)
    path = tmp_path / "cases-age.parquet"
    pq.write_table(pa.Table.from_pandas(table.drop(columns=["birth_date"])), path)
    duck, mine = _both(path, exclusions)
    _assert_same(duck, mine)
    assert duck[0]


def _untidy(records: list[DispensingRecord], seed: int) -> list[DispensingRecord]:
    """Some fills lack a prescriber, pharmacy or birth date, some are listed twice, some have
    a twin of another id (same drug, day and supply: ties for the first, last and previous
    fill), and half of the patients see many prescribers and pharmacies."""
    rng = random.Random(seed)  # noqa: S311  reproducible test data, no secret
    out: list[DispensingRecord] = []
    for r in records:
        if r.patient_id < "P030":
            r = dataclasses.replace(
                r, prescriber_id=f"D{rng.randint(0, 30)}", pharmacy_id=f"R{rng.randint(0, 30)}"
            )
        if rng.random() < 0.05:
            r = dataclasses.replace(r, prescriber_id=None)
        if rng.random() < 0.05:
            r = dataclasses.replace(r, pharmacy_id=None)
        if rng.random() < 0.03:
            r = dataclasses.replace(r, birth_date=None)
        out.append(r)
        if rng.random() < 0.05:
            out.append(r)
        if rng.random() < 0.15:  # another fill of the same drug, day and supply
            out.append(dataclasses.replace(r, fill_id=rng.choice(("0", "Z")) + r.fill_id))
    return out


@pytest.mark.parametrize("seed", range(3))
def test_random_tie_heavy_populations(seed: int, tmp_path: Path) -> None:
    path = tmp_path / "fills.parquet"
    write_records(_untidy(population(seed), seed), path)
    duck, mine = _both(path)
    _assert_same(duck, mine)
    fired = {rule for _, rule, _, _ in duck[0]}
    assert fired >= {"SCR-MPE-OPIOID", "SCR-MPE-BZD", "SCR-BZD-EARLY-REFILL", "SCR-COB"}
    assert any(rate[4] for rate in duck[1])  # patients not evaluated: ids missing


def test_a_synthetic_population_with_malformed_rows(tmp_path: Path) -> None:
    paths = write_population(300, tmp_path / "population.parquet", load(), seed=3)
    with paths["exclusions"].open() as handle:
        exclusions = [(r["patient_id"], r["reason"]) for r in csv.DictReader(handle)]
    duck, mine = _both(paths["records"], exclusions)
    _assert_same(duck, mine)
    assert duck[2]  # malformed rows, counted by reason


def test_the_flags_are_written_as_duckdb_writes_them(
    cases_file: tuple[Path, list[tuple[str, str]]], tmp_path: Path
) -> None:
    path, exclusions = cases_file
    full = baseline.screen_full(pd.read_parquet(path), exclusions)
    out = tmp_path / "flags.parquet"
    baseline.write_flags(full.flags, out)
    written = pd.read_parquet(out)
    assert list(written.columns) == list(baseline.FLAG_COLUMNS)
    keys = list(zip(written["patient_id"], written["rule"], strict=True))
    assert keys == sorted(keys)
    assert baseline.flag_rows(written) == baseline.flag_rows(full.flags)
