"""DuckDB and Spark give identical results on the same input (one local[2] session)."""

from __future__ import annotations

import csv
import dataclasses
import shutil
import socket
from pathlib import Path
from typing import Any

import duckdb
import pytest

from benzosafe.knowledge import load
from benzosafe.population.engines import (
    ROWS_PER_PART,
    DuckDBEngine,
    Engine,
    FileFormat,
    SparkEngine,
)
from benzosafe.population.run import run_screen
from benzosafe.population.screen import (
    ScreenOptions,
    ScreenResult,
    flag_rows,
    part_bounds,
    register_input,
    screen,
    write_flags,
)
from benzosafe.population.synth import write_population


def _format(path: Path) -> FileFormat:
    return "csv" if path.suffix == ".csv" else "parquet"


def _run(
    engine: Engine, path: Path, options: ScreenOptions
) -> tuple[ScreenResult, list[tuple[str, str, float, list[str]]]]:
    result = screen(engine, path, _format(path), load(), options)
    rows = flag_rows(engine)
    engine.close()
    return result, rows


def _same(a: ScreenResult, b: ScreenResult) -> None:
    for name in ("period_start", "period_end", "rows_read", "rows_screened", "patients"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.malformed == b.malformed
    assert a.rates == b.rates
    assert a.flags == b.flags


def test_spark_matches_duckdb_on_the_rule_cases(
    spark: Any, cases_file: tuple[Path, list[tuple[str, str]]], tmp_path: Path
) -> None:
    path, exclusions = cases_file
    options = ScreenOptions(exclusions=tuple(exclusions))
    duck, duck_rows = _run(DuckDBEngine(), path, options)
    # Spark reads a directory of Parquet files (as from a cluster's storage) and writes its
    # flags with its own writer, from the executors, to a directory of Parquet files.
    folder = tmp_path / "input"
    folder.mkdir()
    shutil.copy(path, folder / "part-0.parquet")
    engine = SparkEngine(session=spark)
    sprk = screen(engine, folder, "parquet", load(), options)
    spark_rows = flag_rows(engine)
    write_flags(engine, tmp_path / "spark-flags.parquet")
    engine.close()
    _same(duck, sprk)
    assert duck_rows == spark_rows
    assert duck_rows  # the cases fire
    duck_engine = DuckDBEngine()
    screen(duck_engine, path, "parquet", load(), options)
    write_flags(duck_engine, tmp_path / "duck-flags.parquet")
    duck_engine.close()
    con = duckdb.connect()
    written = [
        con.execute(f"SELECT * FROM read_parquet('{tmp_path / name}') ORDER BY ALL").fetchall()  # noqa: S608
        for name in ("duck-flags.parquet", "spark-flags.parquet/*.parquet")
    ]
    con.close()
    assert (tmp_path / "spark-flags.parquet").is_dir()
    assert written[0] == written[1] and len(written[0]) == len(duck_rows)


def test_spark_matches_duckdb_on_a_synthetic_csv_with_malformed_rows(
    spark: Any, tmp_path: Path
) -> None:
    paths = write_population(300, tmp_path / "population.csv", load(), seed=3)
    with paths["exclusions"].open() as handle:
        exclusions = tuple((r["patient_id"], r["reason"]) for r in csv.DictReader(handle))
    # A row with a date Spark's cast would accept but ISO 8601 does not, and one without a
    # patient: both engines must count them the same way.
    with paths["records"].open("a") as handle:
        handle.write('"X1","P0000001","1950-01-01","2024-3-1","clonazepam",30,30,0.5,"D","R"\n')
        handle.write('"X2",,"1950-01-01","2024-03-01","clonazepam",30,30,0.5,"D","R"\n')
    options = ScreenOptions(exclusions=exclusions)
    duck, duck_rows = _run(DuckDBEngine(), paths["records"], options)
    sprk, spark_rows = _run(SparkEngine(session=spark), paths["records"], options)
    _same(duck, sprk)
    assert duck_rows == spark_rows
    assert duck.malformed["bad_fill_date"] >= 1 and duck.malformed["missing_patient_id"] == 1


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_an_unreadable_input_is_a_clear_error(engine: str, spark: Any, tmp_path: Path) -> None:
    from benzosafe.errors import InvalidInput

    bad = tmp_path / "not.parquet"
    bad.write_text("this is not parquet")
    eng: Engine = DuckDBEngine() if engine == "duckdb" else SparkEngine(session=spark)
    with pytest.raises(InvalidInput, match="cannot read"):
        screen(eng, bad, "parquet", load())


@pytest.mark.parametrize(
    ("parts", "numeric_ids"),
    [(3, False), (1000, False), (4, True)],
    ids=["3 parts", "more parts than patients", "integer patient ids in Parquet"],
)
def test_screening_in_parts_gives_the_result_of_one_pass(
    tmp_path: Path, parts: int, numeric_ids: bool
) -> None:
    """A big table is screened as disjoint ranges of the patient ids, and nothing changes:
    not with more parts asked than there are patients, nor with ids that are not text."""
    paths = write_population(400, tmp_path / "population.csv", load(), seed=5)
    with paths["exclusions"].open() as handle:
        exclusions = tuple((r["patient_id"], r["reason"]) for r in csv.DictReader(handle))
    path = paths["records"]
    if numeric_ids:
        path = tmp_path / "population.parquet"
        con = duckdb.connect()
        con.execute(  # the test's own tmp paths in the SQL
            f"COPY (SELECT * REPLACE (TRY_CAST(substr(patient_id, 2) AS BIGINT) AS patient_id) "  # noqa: S608
            f"FROM read_csv('{paths['records']}', all_varchar = true)) TO '{path}'"
        )
        con.close()
        exclusions = tuple((p.lstrip("P").lstrip("0") or "0", r) for p, r in exclusions)
    options = ScreenOptions(exclusions=exclusions)
    whole, whole_rows = _run(DuckDBEngine(), path, options)
    steps: list[str] = []
    engine = DuckDBEngine(parts=parts)
    in_parts = screen(engine, path, _format(path), load(), options, progress=steps.append)
    parts_rows = flag_rows(engine)
    engine.close()
    _same(whole, in_parts)
    assert whole_rows == parts_rows
    assert sum(whole.flags.values()) > 0
    screened_in = max(int(s.rsplit(" of ", 1)[1].rstrip(")")) for s in steps if " of " in s)
    assert 1 < screened_in <= parts


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_part_bounds_cut_the_rows_into_even_ranges(engine: str, spark: Any, tmp_path: Path) -> None:
    paths = write_population(400, tmp_path / "population.csv", load(), seed=5)
    eng: Engine = DuckDBEngine() if engine == "duckdb" else SparkEngine(session=spark)
    register_input(eng, paths["records"], "csv")
    bounds = part_bounds(eng, 4)
    ids = [str(r[0]) for r in eng.fetch("SELECT patient_id FROM raw WHERE patient_id <> ''")]
    eng.close()
    assert bounds == sorted(set(bounds)) and 1 <= len(bounds) <= 3
    if engine == "duckdb":  # the sample holds every row of so small a table
        assert len(bounds) == 3
        sizes = [
            sum(1 for i in ids if (lo is None or i >= lo) and (hi is None or i < hi))
            for lo, hi in zip([None, *bounds], [*bounds, None], strict=True)
        ]
        assert sum(sizes) == len(ids) and min(sizes) >= len(ids) // 5


def test_patients_whose_keys_collide_are_never_merged(tmp_path: Path) -> None:
    """Patients are keyed by a 64-bit hash of their id; folded into 3 values here, keys
    collide, and the screening notices and keys by the ids themselves: same result."""
    paths = write_population(400, tmp_path / "population.csv", load(), seed=7)
    with paths["exclusions"].open() as handle:
        exclusions = tuple((r["patient_id"], r["reason"]) for r in csv.DictReader(handle))
    options = ScreenOptions(exclusions=exclusions)
    whole, whole_rows = _run(DuckDBEngine(), paths["records"], options)
    folded = DuckDBEngine(parts=2)
    folded.dialect = dataclasses.replace(folded.dialect, key_buckets=3)
    steps: list[str] = []
    result = screen(folded, paths["records"], "csv", load(), options, progress=steps.append)
    rows = flag_rows(folded)
    folded.close()
    assert any("share a key" in s for s in steps)
    _same(whole, result)
    assert whole_rows == rows
    assert sum(whole.flags.values()) > 0


def test_the_number_of_parts_follows_the_memory_limit() -> None:
    from benzosafe.errors import InvalidInput
    from benzosafe.population.engines import memory_bytes

    assert memory_bytes("6GB") == 6 * 10**9
    assert memory_bytes("5.5 GiB") == int(5.5 * 2**30)
    for bad in ("six gigabytes", "1.2.3GB", "6 parsecs"):
        with pytest.raises(InvalidInput, match="not a size"):
            memory_bytes(bad)
    with pytest.raises(InvalidInput, match="no memory"):
        memory_bytes("0GB")
    with pytest.raises(InvalidInput, match="at least 1"):
        DuckDBEngine(parts=0)
    small, big, fixed, roomy = (
        DuckDBEngine(memory_limit="1GB"),
        DuckDBEngine(memory_limit="4GB"),
        DuckDBEngine(parts=2),
        DuckDBEngine(memory_limit="64GB"),
    )
    try:
        assert small.parts(1_000_000) == 1
        assert small.parts(100_000_000) > big.parts(100_000_000) > 1
        assert fixed.parts(10) == 2
        assert roomy.parts(100_000_000) == 100_000_000 // ROWS_PER_PART
        # a CSV is parsed whole by every part: parts only to fit in memory
        assert roomy.parts(100_000_000, ranged_reads=False) == 1
        assert small.parts(100_000_000, ranged_reads=False) == small.parts(100_000_000)
    finally:
        for engine in (small, big, fixed, roomy):
            engine.close()


def test_registered_rows_are_the_same_as_literals_or_through_arrow() -> None:
    # A few rows go in as SQL literals (no pandas import), a long list through Arrow; both
    # give the same table: NULLs, quotes, labels (an ENUM), doubles that are not finite.
    import math

    from benzosafe.population import engines

    schema = [("s", "string"), ("i", "int"), ("d", "double"), ("l", "label")]
    few = [
        ("o'hara", 1, 0.1, "cited"),
        (None, None, None, None),
        ("x", -(2**40), math.inf, "draft"),
        ("\\", 0, math.nan, "cited"),
    ]
    many = few * (engines._MOST_LITERAL_ROWS // len(few) + 1)
    assert len(few) <= engines._MOST_LITERAL_ROWS < len(many)
    engine = DuckDBEngine()
    try:
        engine.register_rows("few", schema, few)
        engine.register_rows("many", schema, many)
        query = (
            "SELECT s, i, CAST(d AS VARCHAR), CAST(l AS VARCHAR), typeof(l) FROM {} ORDER BY ALL"
        )
        enum = "ENUM('cited', 'draft')"
        assert engine.fetch(query.format("few")) == [
            ("\\", 0, "nan", "cited", enum),
            ("o'hara", 1, "0.1", "cited", enum),
            ("x", -(2**40), "inf", "draft", enum),
            (None, None, None, None, enum),
        ]
        assert engine.fetch(query.format("many")) == sorted(
            engine.fetch(query.format("few")) * (len(many) // len(few)),
            key=lambda r: (r[0] is None, r[0] or ""),
        )
    finally:
        engine.close()


def _screen_by_face(engine: str, source: str, out: str, exclusions: Path) -> ScreenResult:
    """A screen as ``benzosafe screen`` runs it (the command line's own function), with the
    input and output named as a user types them; Spark on the tests' session."""
    return run_screen(
        source=source,
        out=out,
        report=None,
        summary_json=None,
        engine=engine,
        spark_master="local[2]",
        input_format="auto",
        drug_map=None,
        exclusions=exclusions,
        period=(None, None),
        provider=(None, None, None),
        memory_limit=None,
        kb=load(),
    )


def _written_flags(path: Path) -> list[tuple[Any, ...]]:
    """The rows of a flags file, or of a directory of Parquet files as Spark writes it."""
    source = path / "*.parquet" if path.is_dir() else path
    con = duckdb.connect()
    rows = con.execute(f"SELECT * FROM read_parquet('{source}') ORDER BY ALL").fetchall()  # noqa: S608
    con.close()
    return rows


@pytest.mark.parametrize("named", ["path", "file URI"])
def test_spark_reads_a_local_path_or_a_file_uri_like_duckdb(
    named: str, spark: Any, cases_file: tuple[Path, list[tuple[str, str]]], tmp_path: Path
) -> None:
    path, exclusions = cases_file
    listed = tmp_path / "exclusions.csv"
    listed.write_text("patient_id,reason\n" + "".join(f"{p},{r}\n" for p, r in exclusions))
    duck = _screen_by_face("duckdb", str(path), str(tmp_path / "duck.parquet"), listed)
    out = tmp_path / "spark.parquet"
    if named == "path":
        sprk = _screen_by_face("spark", str(path), str(out), listed)
    else:  # file:///... for the input and the flags directory alike
        sprk = _screen_by_face("spark", path.as_uri(), out.as_uri(), listed)
    _same(duck, sprk)
    assert out.is_dir()  # Spark's own writer
    assert _written_flags(out) == _written_flags(tmp_path / "duck.parquet") != []


def test_a_remote_uri_spark_cannot_reach_is_a_clear_error(spark: Any, tmp_path: Path) -> None:
    """Spark is handed a remote URI as it is (nothing is checked on this machine) and its
    own answer becomes the error: here, no HDFS name node listens at the address."""
    from benzosafe.errors import InvalidInput

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"hdfs://127.0.0.1:{port}/claims/fills.parquet"
    with pytest.raises(InvalidInput) as error:
        _screen_by_face("spark", uri, str(tmp_path / "flags.parquet"), _no_exclusions(tmp_path))
    message = str(error.value)
    assert message.startswith(f"input: Spark cannot read {uri} as parquet: ")
    assert "Connection refused" in message and "\n" not in message and "at org." not in message
    assert not (tmp_path / "flags.parquet").exists()


def _no_exclusions(tmp_path: Path) -> Path:
    listed = tmp_path / "none.csv"
    listed.write_text("patient_id,reason\n")
    return listed


def test_spark_frees_the_rows_of_a_table_dropped_or_made_again(spark: Any) -> None:
    engine = SparkEngine(session=spark)
    jsc = spark.sparkContext._jsc

    def held() -> set[int]:
        return set(jsc.getPersistentRDDs().keySet())

    before = held()
    engine.create("kept", "SELECT id FROM range(10)", materialize=True)
    first = held() - before
    assert len(first) == 1
    engine.create("kept", "SELECT id FROM range(20)", materialize=True)
    assert len(held() - before) == 1 and held() - before != first  # the first rows freed
    assert engine.fetch("SELECT COUNT(*) FROM kept") == [(20,)]
    engine.drop(["kept"])
    assert held() - before == set()
