"""Shared fixtures of the screening tests: the rule cases as one table, engines, Spark."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from benzosafe.knowledge import load
from benzosafe.population.records import DispensingRecord, write_records

CASE_START = date(2024, 1, 1)
BENCH = Path(__file__).resolve().parents[2] / "bench"


def load_bench(name: str) -> ModuleType:
    """The benchmark script ``bench/<name>.py`` as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real ``benzosafe`` command line in a fresh interpreter."""
    code = "from benzosafe.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )


def case_patient(rule: str, index: int) -> str:
    return f"{rule}#{index}"


def case_records() -> tuple[list[DispensingRecord], list[tuple[str, str]]]:
    """Every rule case of screening.toml as the fills of one patient each, and exclusions."""
    records: list[DispensingRecord] = []
    exclusions: list[tuple[str, str]] = []
    for measure in load().screening.measure:
        for index, case in enumerate(measure.cases):
            patient = case_patient(measure.id, index)
            birth = CASE_START.replace(year=CASE_START.year - case.age).isoformat()
            if case.excluded:
                exclusions.append((patient, case.excluded))
            for n, fill in enumerate(case.fills):
                records.append(
                    DispensingRecord(
                        fill_id=f"{patient}/{n}",
                        patient_id=patient,
                        birth_date=birth,
                        fill_date=(CASE_START + timedelta(days=fill.day)).isoformat(),
                        drug=fill.drug,
                        quantity=float(fill.quantity),
                        days_supply=fill.days_supply,
                        strength_mg=float(fill.strength_mg),
                        prescriber_id=f"{patient}/{fill.prescriber}",
                        pharmacy_id=f"{patient}/{fill.pharmacy}",
                    )
                )
    return records, exclusions


@pytest.fixture(scope="session")
def cases_file(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[str, str]]]:
    records, exclusions = case_records()
    path = tmp_path_factory.mktemp("cases") / "cases.parquet"
    write_records(records, path)
    return path, exclusions


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local[2] SparkSession for the whole run; skipped without pyspark or Java."""
    pytest.importorskip("pyspark", reason="pyspark is not installed")
    from benzosafe.population.engines import (
        find_java_home,
        finish_class_archive,
        spark_session_with_archive,
    )

    if find_java_home() is None:
        pytest.skip("Spark needs Java: no JAVA_HOME and no java on PATH")
    # small tables: as a short local run; the JVM's class archive kept as a screen keeps it
    session, archive = spark_session_with_archive("local[2]", input_size=0)
    yield session
    if archive is not None:
        finish_class_archive(session, archive)
    else:
        session.stop()
