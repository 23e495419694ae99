"""The two engines that run the screening SQL: DuckDB in-process (default) and Apache Spark.

Both offer the same small surface (register a file or rows, create a view or a table, fetch
rows, write Parquet), so :mod:`benzosafe.population.screen` drives either one the same way.
pyspark is imported only when the Spark engine is asked for.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from benzosafe.errors import InvalidInput
from benzosafe.population.sql import DUCKDB, SPARK, Dialect, quote

FileFormat = Literal["parquet", "csv"]
ColumnKind = Literal["string", "date", "other"]
# (name, type) with type one of: string, int, double, label (a string that takes few
# values and repeats on many rows, such as a rule's summary: DuckDB keeps it as an ENUM, so
# tables and sorts carry a small code rather than the text)
Schema = Sequence[tuple[str, str]]
_DUCKDB = {"string": "VARCHAR", "int": "BIGINT", "double": "DOUBLE", "label": "VARCHAR"}
_SPARK = {"string": "STRING", "int": "BIGINT", "double": "DOUBLE", "label": "STRING"}

if TYPE_CHECKING:
    import pyarrow as pa


class Engine(Protocol):
    name: str
    dialect: Dialect

    def register_file(self, name: str, path: Path, fmt: FileFormat) -> None: ...
    def register_rows(self, name: str, schema: Schema, rows: Sequence[Sequence[Any]]) -> None: ...
    def columns(self, name: str) -> dict[str, ColumnKind]: ...
    def create(self, name: str, sql: str, materialize: bool = False) -> None: ...
    def fetch(self, sql: str) -> list[tuple[Any, ...]]: ...
    def drop(self, names: Sequence[str]) -> None: ...
    def parts(self, rows: int, ranged_reads: bool = True) -> int: ...
    def write_parquet(self, sql: str, path: Path) -> None: ...
    def close(self) -> None: ...


def _literal(value: Any, kind: str) -> str:
    """A value of a registered row as a DuckDB literal of its column's type."""
    if value is None:
        return "NULL"
    if kind == "int":
        return str(int(value))
    if kind == "double":
        return f"CAST({quote(repr(float(value)))} AS DOUBLE)"  # nan and inf too
    return quote(str(value))


# Rows a statement inserts at most when registering rows as SQL literals, and the most rows
# registered that way: a longer list (a user's excluded patients) goes through Arrow, where
# parsing literals would cost more than DuckDB's import of pandas (100k rows: 0.9 s as
# literals, 0.2 s through Arrow).
_ROWS_A_STATEMENT = 1000
_MOST_LITERAL_ROWS = 5000


def _arrow_table(schema: Schema, rows: Sequence[Sequence[Any]]) -> pa.Table:
    import pyarrow as pa  # only for long lists of rows: a screen need not import it

    types = {"string": pa.string(), "int": pa.int64(), "double": pa.float64(), "label": pa.string()}
    arrays = [pa.array([r[i] for r in rows], type=types[t]) for i, (_, t) in enumerate(schema)]
    return pa.Table.from_arrays(arrays, names=[n for n, _ in schema])


# Memory a screened fill takes in a DuckDB table (measured: 104 bytes a fill over the 10M
# fills of bench/screen_scale.py), and the share of the memory limit the fills may take:
# the per-patient summary, the windows and the flags need the rest. A bigger table is
# screened in parts (disjoint sets of patients) rather than spilled to disk.
BYTES_PER_FILL = 104
FILLS_SHARE_OF_MEMORY = 0.6
# Rows a part of a Parquet input screens at most, even when memory would hold more: the
# sorts, windows and per-patient hash tables of a part run faster per row while they stay
# this small, and reading one part's id range costs about 1 s (bench/screen_profile.py on
# the 100M-row table of bench/screen_scale.py: 10 parts 80.8 s; 7, 14 and 20 parts 85.2,
# 84.2 and 83.6 s; one part with a 16GB limit 97.9 s).
ROWS_PER_PART = 10_000_000
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
_UNITS |= {"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def memory_bytes(text: str) -> int:
    """A DuckDB memory setting ("6GB", "5.5 GiB") in bytes."""
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*", text)
    if match is None or match.group(2).lower() not in _UNITS:
        raise InvalidInput("memory limit", f"{text!r} is not a size such as 6GB")
    size = int(float(match.group(1)) * _UNITS[match.group(2).lower()])
    if size <= 0:
        raise InvalidInput("memory limit", f"{text!r} leaves no memory to work in")
    return size


class DuckDBEngine:
    """DuckDB in this process; ``memory_limit`` like "6GB" keeps big runs within bounds."""

    name = "duckdb"
    dialect = DUCKDB

    def __init__(
        self, memory_limit: str | None = None, threads: int | None = None, parts: int | None = None
    ) -> None:
        import duckdb

        if parts is not None and parts < 1:
            raise InvalidInput("parts", f"must be at least 1, got {parts}")
        self._parts = parts
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self._con = duckdb.connect()
        if memory_limit:
            memory_bytes(memory_limit)  # a clear error for a size DuckDB would not read
            # An in-memory database spills to a temp directory only when it is given one.
            self._scratch = tempfile.TemporaryDirectory(prefix="benzosafe-duckdb-")
            self._con.execute(f"SET memory_limit = {quote(memory_limit)}")
            self._con.execute(f"SET temp_directory = {quote(self._scratch.name)}")
        if threads:
            self._con.execute(f"SET threads = {int(threads)}")
        self._con.execute("SET preserve_insertion_order = false")
        # The working tables live in memory and are dropped part by part: never checkpoint
        # them. An automatic checkpoint (every 16 MB of changes by default) compresses every
        # table of the in-memory database; at 100M rows four of them stalled the screen for
        # 1.4 to 2.7 s each (bench/screen_profile.py: 49.4 s with them, 43.5 s without).
        self._con.execute("SET checkpoint_threshold = '1TB'")
        # The screen shows its own progress; DuckDB's bar (for any query over 2 s) would
        # print over it.
        self._con.execute("SET enable_progress_bar = false")

    def register_file(self, name: str, path: Path, fmt: FileFormat) -> None:
        src = quote(str(path))
        reader = (
            f"read_parquet({src})"
            if fmt == "parquet"
            else f"read_csv({src}, header = true, all_varchar = true)"
        )
        self._con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM {reader}")

    def register_rows(self, name: str, schema: Schema, rows: Sequence[Sequence[Any]]) -> None:
        """Rows as a table. A few thousand rows are inserted as SQL literals: a Python (Arrow)
        table registered with DuckDB makes it import pandas, a quarter of a second of every
        screen, which only a long list is worth."""
        staged = f"{name}_rows"
        through_arrow = len(rows) > _MOST_LITERAL_ROWS
        if through_arrow:
            self._con.register(staged, _arrow_table(schema, rows))
        else:
            typed = ", ".join(f"{col} {_DUCKDB[kind]}" for col, kind in schema)
            self._con.execute(f"CREATE OR REPLACE TEMP TABLE {staged} ({typed})")
            for start in range(0, len(rows), _ROWS_A_STATEMENT):
                tuples = (
                    ", ".join(_literal(v, kind) for v, (_, kind) in zip(r, schema, strict=True))
                    for r in rows[start : start + _ROWS_A_STATEMENT]
                )
                self._con.execute(f"INSERT INTO {staged} VALUES ({'), ('.join(tuples)})")
        columns = [col for col, _ in schema]
        for i, (col, kind) in enumerate(schema):
            values = (
                sorted({str(r[i]) for r in rows if r[i] is not None}) if kind == "label" else []
            )
            if values:
                columns[i] = f"CAST({col} AS ENUM({', '.join(map(quote, values))})) AS {col}"
        self._con.execute(
            f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT {', '.join(columns)} FROM {staged}"
        )
        if through_arrow:
            self._con.unregister(staged)
        else:
            self._con.execute(f"DROP TABLE {staged}")

    def columns(self, name: str) -> dict[str, ColumnKind]:
        out: dict[str, ColumnKind] = {}
        for col, typ, *_ in self._con.execute(f"DESCRIBE {name}").fetchall():
            t = str(typ).upper()
            out[str(col).lower()] = (
                "string" if t == "VARCHAR" else "date" if t == "DATE" else "other"
            )
        return out

    def create(self, name: str, sql: str, materialize: bool = False) -> None:
        kind = "TABLE" if materialize else "TEMP VIEW"
        self._con.execute(f"CREATE OR REPLACE {kind} {name} AS {sql}")

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return self._con.execute(sql).fetchall()

    def drop(self, names: Sequence[str]) -> None:
        """Free the tables (or views) ``names``: a screened part's fills need not wait."""
        kinds = dict(
            self._con.execute(
                "SELECT table_name, 'TABLE' FROM duckdb_tables() UNION ALL "
                "SELECT view_name, 'VIEW' FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        )
        for name in names:
            if name in kinds:
                self._con.execute(f"DROP {kinds[name]} {name}")

    def parts(self, rows: int, ranged_reads: bool = True) -> int:
        """How many parts to screen ``rows`` fills in: each part's fills fit in memory and,
        when reading one range of patient ids costs far less than reading the whole input
        (``ranged_reads``: Parquet, where the range is applied while reading; not CSV, which
        every part parses whole), none has more than :data:`ROWS_PER_PART`."""
        if self._parts is not None:
            return self._parts
        limit = self._con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        budget = memory_bytes(str(limit)) * FILLS_SHARE_OF_MEMORY
        fit = math.ceil(rows * BYTES_PER_FILL / budget)
        return max(1, fit, math.ceil(rows / ROWS_PER_PART) if ranged_reads else 1)

    def write_parquet(self, sql: str, path: Path) -> None:
        self._con.execute(f"COPY ({sql}) TO {quote(str(path))} (FORMAT parquet)")

    def close(self) -> None:
        self._con.close()
        if self._scratch is not None:
            self._scratch.cleanup()


def find_java_home() -> str | None:
    """JAVA_HOME if set, else the installation the ``java`` on PATH belongs to."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    java = shutil.which("java")
    if java is None:
        return None
    return str(Path(os.path.realpath(java)).parent.parent)


def spark_session(master: str = "local[*]") -> Any:
    """A SparkSession for ``master``; a local one gets few shuffle partitions and no UI."""
    home = find_java_home()
    if home is None:
        raise InvalidInput("engine", "Spark needs Java (17): no JAVA_HOME and no java on PATH")
    os.environ.setdefault("JAVA_HOME", home)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InvalidInput(
            "engine", "the Spark engine needs pyspark: pip install 'benzosafe[spark]'"
        ) from None
    builder = SparkSession.builder.master(master).appName("benzosafe-screen")
    # A cached table's plan text embeds the plans behind it; with every measure building on
    # the same tables the text of one query's plan can otherwise fill the driver's heap.
    builder = (
        builder.config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.maxPlanStringLength", "100000")
        # adaptive execution: partitions coalesced and joins re-planned from the sizes seen
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
    )
    if master.startswith("local"):
        builder = builder.config("spark.sql.shuffle.partitions", "4").config(
            "spark.driver.memory", "2g"
        )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkEngine:
    """Apache Spark through pyspark; pass a session, or a master such as ``local[*]``."""

    name = "spark"
    dialect = SPARK

    def __init__(self, master: str = "local[*]", session: Any = None) -> None:
        self._spark = session if session is not None else spark_session(master)
        self._cached: dict[str, Any] = {}

    def register_file(self, name: str, path: Path, fmt: FileFormat) -> None:
        reader = self._spark.read
        df = reader.parquet(str(path)) if fmt == "parquet" else reader.csv(str(path), header=True)
        df.createOrReplaceTempView(name)

    def register_rows(self, name: str, schema: Schema, rows: Sequence[Sequence[Any]]) -> None:
        ddl = ", ".join(f"`{n}` {_SPARK[t]}" for n, t in schema)
        self._spark.createDataFrame([tuple(r) for r in rows], schema=ddl).createOrReplaceTempView(
            name
        )

    def columns(self, name: str) -> dict[str, ColumnKind]:
        out: dict[str, ColumnKind] = {}
        for field in self._spark.table(name).schema.fields:
            t = field.dataType.typeName()
            out[field.name.lower()] = (
                "string" if t == "string" else "date" if t == "date" else "other"
            )
        return out

    def create(self, name: str, sql: str, materialize: bool = False) -> None:
        df = self._spark.sql(sql)
        if name in self._cached:
            self._cached.pop(name).unpersist()
        if materialize:
            df = df.cache()
            self._cached[name] = df
        df.createOrReplaceTempView(name)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._spark.sql(sql).collect()]

    def drop(self, names: Sequence[str]) -> None:
        for name in names:
            if name in self._cached:
                self._cached.pop(name).unpersist()
            self._spark.catalog.dropTempView(name)

    def parts(self, rows: int, ranged_reads: bool = True) -> int:
        """One: Spark partitions and spills by itself."""
        return 1

    def write_parquet(self, sql: str, path: Path) -> None:
        """Spark's own writer, from the executors: ``path`` becomes a Parquet directory (one
        file a partition); no flag row passes through the driver."""
        self._spark.sql(sql).write.mode("overwrite").parquet(str(path))

    def close(self) -> None:
        for df in self._cached.values():
            df.unpersist()
        self._cached.clear()
