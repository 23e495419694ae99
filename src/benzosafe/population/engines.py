"""The two engines that run the screening SQL: DuckDB in-process (default) and Apache Spark.

Both offer the same small surface (register a file or rows, create a view or a table, fetch
rows, write Parquet), so :mod:`benzosafe.population.screen` drives either one the same way.
pyspark is imported only when the Spark engine is asked for.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from benzosafe.errors import InvalidInput
from benzosafe.population.location import Location
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

    def register_file(self, name: str, path: Location, fmt: FileFormat) -> None: ...
    def register_rows(self, name: str, schema: Schema, rows: Sequence[Sequence[Any]]) -> None: ...
    def columns(self, name: str) -> dict[str, ColumnKind]: ...
    def create(self, name: str, sql: str, materialize: bool = False) -> None: ...
    def fetch(self, sql: str) -> list[tuple[Any, ...]]: ...
    def drop(self, names: Sequence[str]) -> None: ...
    def parts(self, rows: int, ranged_reads: bool = True) -> int: ...
    def write_parquet(self, sql: str, path: Location) -> None: ...
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

    def register_file(self, name: str, path: Location, fmt: FileFormat) -> None:
        """``path``, a file or a directory of files (as Spark writes them: ``part-*.parquet``)."""
        if isinstance(path, Path) and path.is_dir():
            path = path / "**" / f"*.{fmt}"
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

    def write_parquet(self, sql: str, path: Location) -> None:
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


# A local run on an input up to this size (bytes on disk) is short: its driver JVM compiles
# with the client JIT only (-XX:TieredStopAtLevel=1). The server compiler's threads otherwise
# took half the CPU of a small screen (JVM CPU 91 s against 46 s on the 2,000-patient table,
# 135 s against 71 s on 250k rows in 4.7 MB), compiling code such a run leaves before it
# pays off; at 1M rows (8.5 MB) the server compiler won (49 s against 79 s of wall time).
SHORT_RUN_BYTES = 2 * 2**20
# Set in a short run's configuration (see :func:`spark_session`).
SHORT_RUN_CONF = "spark.benzosafe.shortRun"
# Bytes of input (Parquet or CSV on disk) a shuffle partition is planned for; adaptive
# execution then coalesces the partitions of each shuffle to what its data needs.
INPUT_BYTES_PER_PARTITION = 8 * 2**20


def input_bytes(path: Location) -> int | None:
    """The size on disk of a local input file or directory of files; None for a URI."""
    if not isinstance(path, Path):
        return None
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return path.stat().st_size if path.exists() else None


def _java_options_given() -> bool:
    submit = os.environ.get("PYSPARK_SUBMIT_ARGS", "")
    return "java-options" in submit or "JavaOptions" in submit


# The driver JVM's class-data-sharing archive: the classes a screen loads from Spark's jars
# (about 190 MB), dumped by the JVM as it exits after the first screen and mapped at the start
# of every later one, rather than read from the jars and verified again each time. It lives in
# the user's cache folder (:func:`~benzosafe.knowledge.cache.cache_folder`; none with
# ``BENZOSAFE_CACHE_DIR=off``), named by the Spark and Java versions and a hash of the Spark
# and Java installations; the JVM itself skips an archive that does not match its class path
# (a reinstalled jar) and runs as without one.
CLASS_ARCHIVE_FOLDER = "spark-classes"
# The JVM's own messages about the archive (classes it cannot archive, a stale archive) are
# not the user's business: the screen runs the same with or without it.
_QUIET_ARCHIVE = "-Xlog:cds*=off"


# The heap of a local run's JVM (driver and executor in one), unless this variable says how
# much: a size as Spark reads it, such as 8g or 4096m.
DRIVER_MEMORY_ENV = "BENZOSAFE_SPARK_DRIVER_MEMORY"
DRIVER_MEMORY = "2g"


def driver_memory() -> str:
    """The local JVM's heap: :data:`DRIVER_MEMORY_ENV` if set, else :data:`DRIVER_MEMORY`."""
    given = os.environ.get(DRIVER_MEMORY_ENV, "").strip()
    if not given:
        return DRIVER_MEMORY
    if not re.fullmatch(r"[1-9][0-9]*[kmgt]?", given.lower()):
        raise InvalidInput(
            DRIVER_MEMORY_ENV, f"{given!r} is not a size as Spark reads it", ["2g", "4096m"]
        )
    return given.lower()


def _spark_home() -> Path:
    import pyspark

    return Path(os.environ.get("SPARK_HOME") or Path(pyspark.__file__).parent)


def class_archive_path(java_home: str) -> Path | None:
    """Where the class archive of this Spark and this Java is kept; None when the cache is
    turned off or the Spark installation cannot be read."""
    import pyspark

    from benzosafe.knowledge.cache import cache_folder

    folder = cache_folder()
    if folder is None:
        return None
    try:
        release = Path(java_home, "release")
        release_text = release.read_text(encoding="utf-8") if release.is_file() else ""
        jars = _spark_home() / "jars"
        ident = "\n".join(
            (
                os.path.realpath(_spark_home()),
                str(jars.stat().st_mtime_ns),
                os.path.realpath(java_home),
                release_text,
            )
        )
    except OSError:
        return None
    version = re.search(r'JAVA_VERSION="([^"]+)"', release_text)
    java = re.sub(r"[^0-9A-Za-z.]", "_", version.group(1)) if version else "unknown"
    digest = hashlib.sha256(ident.encode()).hexdigest()[:12]
    name = f"spark-{pyspark.__version__}-java-{java}-{digest}.jsa"
    return Path(folder, CLASS_ARCHIVE_FOLDER, name)


def _drop_abandoned(folder: Path) -> None:
    """Archives half made by JVMs that are gone (``NAME.PID.part``), removed."""
    for part in folder.glob("*.part"):
        pid = part.suffixes[-2].lstrip(".") if len(part.suffixes) >= 2 else ""
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            part.unlink(missing_ok=True)


def class_archive_options(java_home: str) -> tuple[list[str], Path | None]:
    """The driver JVM's options for its class archive, and the file the JVM will dump a new
    one to when there is none yet (see :func:`finish_class_archive`). Nothing when the cache
    folder is off, cannot be made or written, or its path would not survive Spark's
    splitting of the Java options at spaces."""
    path = class_archive_path(java_home)
    if path is None or re.search(r"[\s\"']", str(path)):
        return [], None
    if path.is_file():
        return [f"-XX:SharedArchiveFile={path}", _QUIET_ARCHIVE], None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _drop_abandoned(path.parent)
    except OSError:
        return [], None
    if not os.access(path.parent, os.W_OK):
        return [], None
    partial = path.with_name(f"{path.name}.{os.getpid()}.part")
    return [f"-XX:ArchiveClassesAtExit={partial}", _QUIET_ARCHIVE], partial


def finish_class_archive(session: Any, partial: Path, seconds: float = 300) -> bool:
    """Stop ``session``, let its JVM exit (it dumps the archive to ``partial`` as it does) and
    put the archive in place; True if it was. A JVM that fails or takes longer than
    ``seconds`` leaves no archive: the next screen makes one."""
    context = session.sparkContext
    process = getattr(context._gateway, "proc", None)
    session.stop()
    done = False
    if process is not None and process.stdin is not None:
        process.stdin.close()  # pyspark's JVM exits when its standard input ends
        try:
            done = process.wait(timeout=seconds) == 0
        except subprocess.TimeoutExpired:
            done = False
    try:
        if done and partial.is_file() and partial.stat().st_size > 0:
            os.replace(partial, partial.with_name(partial.name.rsplit(".", 2)[0]))
            return True
        partial.unlink(missing_ok=True)
    except OSError:
        pass
    return False


def spark_session(master: str = "local[*]", input_size: int | None = None) -> Any:
    """A SparkSession for ``master``, without UI, adaptive execution on; its driver JVM
    starts from the class archive (:func:`class_archive_options`) when there is one. A local
    one on an input of ``input_size`` bytes up to :data:`SHORT_RUN_BYTES` is a short run:
    interpreted expressions, no adaptive execution, and the client JIT only unless
    PYSPARK_SUBMIT_ARGS sets the driver's Java options (then the class archive is not used
    either)."""
    return spark_session_with_archive(master, input_size)[0]


def spark_session_with_archive(master: str, input_size: int | None) -> tuple[Any, Path | None]:
    """:func:`spark_session`, and the archive its JVM will dump when this call started the
    JVM and there is no archive yet."""
    home = find_java_home()
    if home is None:
        raise InvalidInput("engine", "Spark needs Java (17): no JAVA_HOME and no java on PATH")
    os.environ.setdefault("JAVA_HOME", home)
    try:
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
    except ImportError:
        raise InvalidInput(
            "engine", "the Spark engine needs pyspark: pip install 'benzosafe[spark]'"
        ) from None
    builder = SparkSession.builder.master(master).appName("benzosafe-screen")
    builder = (
        builder.config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # a plan's text is kept short (plans over the checkpointed tables are small anyway)
        .config("spark.sql.maxPlanStringLength", "100000")
        # adaptive execution: partitions coalesced and joins re-planned from the sizes seen
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.adaptive.coalescePartitions.enabled", "true")
    )
    java_options: list[str] = []
    partial: Path | None = None
    launching = SparkContext._gateway is None  # else the JVM runs already, options and all
    if launching and not _java_options_given():
        java_options, partial = class_archive_options(home)
    if master.startswith("local"):
        # Python workers, if Spark ever starts one, run this interpreter (with benzosafe and
        # pyspark), not whichever python3 is first on PATH; a cluster's executors need the
        # path of their own machines (PYSPARK_PYTHON or spark.pyspark.python, set by you).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        builder = builder.config("spark.driver.memory", driver_memory())
        short = input_size is not None and input_size <= SHORT_RUN_BYTES
        if short:
            # A few thousand rows: compiling each stage's generated code (Janino) costs
            # more than interpreting its expressions (factoryMode is an internal setting,
            # the path Spark takes by itself when generated code fails to compile); and
            # with every table under the broadcast threshold and a partition a core there
            # is nothing for adaptive execution to re-plan, while it runs each stage of a
            # query as a job of its own (163 jobs a screen, against 35 without it).
            builder = builder.config("spark.sql.codegen.wholeStage", "false")
            builder = builder.config("spark.sql.codegen.factoryMode", "NO_CODEGEN")
            builder = builder.config("spark.sql.adaptive.enabled", "false")
            builder = builder.config(SHORT_RUN_CONF, "true")
        if short and not _java_options_given():
            java_options.insert(0, "-XX:TieredStopAtLevel=1")
    if java_options:
        builder = builder.config("spark.driver.extraJavaOptions", " ".join(java_options))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session, partial


def spark_message(exc: Exception) -> str:
    """What Spark says in an exception, in one line: a Java exception's own message, without
    py4j's preamble or the JVM's stack trace."""
    java = getattr(exc, "java_exception", None)
    text = str(java.toString()) if java is not None else str(exc)
    lines = (line.strip() for line in text.splitlines())
    return next((line for line in lines if line), type(exc).__name__)[:1000]


class SparkEngine:
    """Apache Spark through pyspark; pass a session, or a master such as ``local[*]``."""

    name = "spark"
    dialect = SPARK

    def __init__(
        self, master: str = "local[*]", session: Any = None, input_size: int | None = None
    ) -> None:
        self._archive: Path | None = None  # the class archive its JVM will dump at exit
        if session is None:
            session, self._archive = spark_session_with_archive(master, input_size)
        self._spark = session
        # the persisted RDD (a py4j handle) that holds each materialised table's rows
        self._checkpoints: dict[str, Any] = {}

    def register_file(self, name: str, path: Location, fmt: FileFormat) -> None:
        """``path`` (a local path or any URI Spark reads) as the view ``name``; what Spark
        says when it cannot find, reach or read it, as an :class:`InvalidInput`."""
        reader = self._spark.read
        try:
            df = (
                reader.parquet(str(path))
                if fmt == "parquet"
                else reader.csv(str(path), header=True)
            )
        except Exception as exc:  # Spark's and the JVM's own types, from py4j
            message = spark_message(exc)
            if "No FileSystem for scheme" in message or "FileSystem not found" in message:
                message += (
                    " (Spark needs that file system's connector on its classpath, such as "
                    "hadoop-aws for s3a://: spark-submit --packages org.apache.hadoop:hadoop-aws)"
                )
            raise InvalidInput("input", f"Spark cannot read {path} as {fmt}: {message}") from None
        df.createOrReplaceTempView(name)
        self._plan_shuffles(df)

    def _plan_shuffles(self, df: Any) -> None:
        """Shuffle partitions for the input's size (Spark's estimate, from the files it
        listed), at least one a core (one in all for a short run), unless the session's
        configuration sets them: Spark's default of 200 makes thousands of tiny tasks of a
        small table, and too few would leave a big one in partitions too large for an
        executor's memory. A short run's few thousand rows gain nothing from a second core:
        each task costs more to start than to run (JVM CPU 20 s against 17 s on the
        2,000-patient table with two partitions against one)."""
        context = self._spark.sparkContext
        if context.getConf().contains("spark.sql.shuffle.partitions"):
            return
        short = self._spark.conf.get(SHORT_RUN_CONF, "false") == "true"
        size = int(str(df._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))
        least = 1 if short else context.defaultParallelism
        partitions = max(least, math.ceil(size / INPUT_BYTES_PER_PARTITION))
        self._spark.conf.set("spark.sql.shuffle.partitions", str(partitions))

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
        """A view, or with ``materialize`` a table computed now and cut from its lineage.

        A materialised table is a local checkpoint: its rows are kept by the executors and
        the queries over it start from them, not from the plan that made them. Cached
        (``df.cache()``) instead, every later query carried the plans of all the tables
        below it (fills, patients, a measure's prelude), and Spark analysed, optimised and
        matched those against its cache at each query: on the 2,000-patient table a screen
        spent most of its time planning, its last query alone ran 156 jobs, and dropping a
        cached table re-planned the tables cached over it.
        """
        self._free(name)
        df = self._spark.sql(sql)
        if materialize:
            df = df.localCheckpoint(eager=True)
            # its plan is a LogicalRDD over the persisted RDD of its rows: kept to free them
            # (one call, where listing the session's persisted RDDs before and after took
            # a py4j round trip for each: 20 ms a table late in a screen)
            self._checkpoints[name] = df._jdf.queryExecution().logical().rdd()
        df.createOrReplaceTempView(name)

    def _free(self, name: str) -> None:
        """Drop the rows of a materialised table (they would stay until the JVM collects
        the checkpoint's RDD, which may be never in a short run)."""
        rdd = self._checkpoints.pop(name, None)
        if rdd is not None:
            rdd.unpersist(False)

    def fetch(self, sql: str) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self._spark.sql(sql).collect()]

    def drop(self, names: Sequence[str]) -> None:
        for name in names:
            self._free(name)
            self._spark.catalog.dropTempView(name)

    def parts(self, rows: int, ranged_reads: bool = True) -> int:
        """One: Spark partitions and spills by itself."""
        return 1

    def write_parquet(self, sql: str, path: Location) -> None:
        """Spark's own writer, from the executors: ``path`` becomes a Parquet directory (one
        file a partition); no flag row passes through the driver."""
        self._spark.sql(sql).write.mode("overwrite").parquet(str(path))

    def close(self) -> None:
        for name in list(self._checkpoints):
            self._free(name)
        if self._archive is not None:
            # the first screen of this Spark and Java: its JVM dumps the classes it loaded
            # as it exits (some seconds, once), and the archive is put in place for the next
            finish_class_archive(self._spark, self._archive)
            self._archive = None
