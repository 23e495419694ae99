"""The Spark driver's class archive: made by the JVM of the first screen as it exits, kept in
the cache folder, mapped by the JVMs of later screens; a screen runs the same without one,
with a broken one or with a cache folder it cannot write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benzosafe.knowledge import load
from benzosafe.population.synth import write_population

from .conftest import run_cli

pytest.importorskip("pyspark", reason="pyspark is not installed")

# Start a Spark engine as a screen does, print the class archives its JVM maps, close it.
MAPPED = """
from pathlib import Path
from benzosafe.population.engines import SparkEngine
engine = SparkEngine(master="local[1]", input_size=0)
engine.fetch("SELECT 1")
context = engine._spark.sparkContext
pid = int(context._jvm.java.lang.ProcessHandle.current().pid())
lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
print(sorted({line.split()[-1] for line in lines if line.endswith(".jsa")}))
engine.close()
"""


@pytest.fixture
def java_home() -> str:
    from benzosafe.population.engines import find_java_home

    home = find_java_home()
    if home is None:
        pytest.skip("Spark needs Java: no JAVA_HOME and no java on PATH")
    return home


def _mapped(cache: Path | str) -> list[str]:
    env = {**os.environ, "BENZOSAFE_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", MAPPED], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return list(json.loads(done.stdout.strip().splitlines()[-1].replace("'", '"')))


def _archive(cache: Path, java_home: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    from benzosafe.population.engines import class_archive_path

    monkeypatch.setenv("BENZOSAFE_CACHE_DIR", str(cache))
    path = class_archive_path(java_home)
    assert path is not None and path.parent.parent == cache
    return path


def test_the_first_screen_leaves_an_archive_that_the_next_maps(
    tmp_path: Path, java_home: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    archive = _archive(cache, java_home, monkeypatch)
    assert str(archive) not in _mapped(cache)
    assert archive.is_file() and archive.stat().st_size > 0
    assert list(archive.parent.glob("*.part")) == []  # the dump was put in place whole
    assert str(archive) in _mapped(cache)

    # a screen from the archive: the same summary and flags as DuckDB's
    paths = write_population(150, tmp_path / "population.parquet", load(), seed=5)
    results = {}
    for engine in ("duckdb", "spark"):
        out = tmp_path / f"{engine}.json"
        done = run_cli(
            "screen", str(paths["records"]), "--engine", engine, "--spark-master", "local[1]",
            "--exclusions", str(paths["exclusions"]), "--json", str(out),
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        results[engine] = json.loads(out.read_text())
        for varies in ("engine", "seconds"):
            results[engine].pop(varies)
    assert results["spark"] == results["duckdb"]
    assert sum(results["duckdb"]["flags"].values()) > 0


def test_a_broken_archive_is_left_aside(
    tmp_path: Path, java_home: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    archive = _archive(cache, java_home, monkeypatch)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"not a class archive" * 1000)
    assert str(archive) not in _mapped(cache)  # the JVM skips it and runs without


def test_no_archive_where_the_cache_cannot_be_written(
    tmp_path: Path, java_home: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from benzosafe.population.engines import class_archive_options

    blocked = tmp_path / "a-file"
    blocked.write_text("")
    monkeypatch.setenv("BENZOSAFE_CACHE_DIR", str(blocked))  # no folder can be made in it
    assert class_archive_options(java_home) == ([], None)
    monkeypatch.setenv("BENZOSAFE_CACHE_DIR", "off")
    assert class_archive_options(java_home) == ([], None)
    monkeypatch.setenv("BENZOSAFE_CACHE_DIR", str(tmp_path / "with space"))
    assert class_archive_options(java_home) == ([], None)
    monkeypatch.setenv("BENZOSAFE_CACHE_DIR", str(tmp_path / "fine"))
    options, partial = class_archive_options(java_home)
    assert partial is not None and f"-XX:ArchiveClassesAtExit={partial}" in options
