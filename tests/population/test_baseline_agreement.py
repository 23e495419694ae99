"""The screening SQL and the plain pandas baseline of ``bench/pandas_screen.py`` flag the
same patients on random, tie-heavy tables.

The two are written independently (SQL windows and summaries against pandas sorts, shifts
and merges), so agreement on many small random populations, where fills share days,
supplies and ends, several benzodiazepines interleave and runs of supply touch and overlap,
checks the SQL's shortcuts (runs from one window, early refills without a per-day GROUP BY,
first and last fill from two days) against the obvious computation.
"""

from __future__ import annotations

import random
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from benzosafe.knowledge import load
from benzosafe.population.engines import DuckDBEngine, Engine, SparkEngine
from benzosafe.population.records import DispensingRecord, write_records
from benzosafe.population.screen import flag_rows, screen

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import pandas_screen

START = date(2024, 1, 1)
BENZODIAZEPINES = ("clonazepam", "alprazolam", "lorazepam", "diazepam")
OPIOIDS = ("oxycodone", "hydrocodone", "morphine", "buprenorphine")
SUPPLIES = (1, 2, 3, 5, 7, 10, 14, 28, 30, 60, 90, 120)


def population(seed: int, patients: int = 60) -> list[DispensingRecord]:
    """Few patients, many fills, narrow calendars: ties of day, supply and end are common."""
    rng = random.Random(seed)  # noqa: S311  reproducible test data, no secret
    records: list[DispensingRecord] = []
    for p in range(patients):
        birth = START - timedelta(days=rng.randint(18 * 365, 90 * 365))
        drugs = rng.sample(BENZODIAZEPINES, rng.randint(1, 2)) + rng.sample(
            OPIOIDS, rng.randint(0, 2)
        )
        span = rng.choice((20, 60, 200))
        for n in range(rng.randint(1, 14)):
            drug = rng.choice(drugs)
            supply = rng.choice(SUPPLIES)
            records.append(
                DispensingRecord(
                    fill_id=f"F{rng.randint(0, 10**6):07d}-{p}-{n}",
                    patient_id=f"P{p:03d}",
                    birth_date=birth.isoformat(),
                    fill_date=(START + timedelta(days=rng.randint(0, span))).isoformat(),
                    drug=drug,
                    quantity=float(supply * rng.choice((1, 2, 3))),
                    days_supply=supply,
                    strength_mg=rng.choice((0.25, 0.5, 1.0, 2.0, 5.0, 10.0)),
                    prescriber_id=f"D{rng.randint(0, 6)}",
                    pharmacy_id=f"R{rng.randint(0, 6)}",
                )
            )
    return records


def flagged(engine: Engine, path: Path) -> set[tuple[str, str]]:
    screen(engine, path, "parquet", load())
    rows = {(patient, rule) for patient, rule, _, _ in flag_rows(engine)}
    engine.close()
    return rows


def baseline(path: Path) -> set[tuple[str, str]]:
    flags = pandas_screen.screen(pd.read_parquet(path))
    return {(patient, rule) for rule, patients in flags.items() for patient in patients}


@pytest.mark.parametrize("seed", range(12))
def test_duckdb_flags_the_patients_the_pandas_baseline_flags(seed: int, tmp_path: Path) -> None:
    path = tmp_path / "fills.parquet"
    write_records(population(seed), path)
    expected = baseline(path)
    assert {rule for _, rule in expected} >= {"SCR-BZD-LONG-TERM", "SCR-BZD-EARLY-REFILL"}
    assert flagged(DuckDBEngine(), path) == expected


def test_spark_flags_the_patients_the_pandas_baseline_flags(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "fills.parquet"
    write_records(population(99), path)
    expected = baseline(path)
    assert {rule for _, rule in expected} >= {"SCR-BZD-LONG-TERM", "SCR-BZD-EARLY-REFILL"}
    assert flagged(SparkEngine(session=spark), path) == expected
