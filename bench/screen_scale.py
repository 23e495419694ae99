"""Screening at scale: DuckDB against a straightforward pandas implementation of the same
rules, and against Spark.

Generates dispensing tables of the given sizes (default 10M and 100M rows) with DuckDB,
screens each with ``benzosafe`` on DuckDB in a child process (wall time, rows per second,
peak resident memory of that process, flags written to Parquet), and runs the pandas
baseline of ``pandas_screen.py`` on the sizes pandas can hold (default up to 10M rows), also
in child processes, in two versions:

- pandas (same output): what DuckDB produces, flags with values and evidence written to
  Parquet, per-measure rates, malformed rows counted;
- pandas (flags only): the earlier baseline, only which patients each measure flags.

After the timed runs, each pandas output is compared with DuckDB's: the flagged (patient,
rule) pairs, and for the full version every flag's value (to 6 places) and evidence, the
rates and the malformed counts.

With ``--engines duckdb spark`` each size is also screened by Spark (``SparkEngine``,
``--spark-master``, default ``local[*]``) in a child process, after DuckDB: wall time, rows
per second, the peak RSS of the Python driver and of the JVM, and Spark's own peak executor
metrics (see ``spark_scale.py``); then the summaries and the flag rows of both engines are
compared and the ratio of their wall times printed. ``--engines spark`` runs Spark alone.
The machine's load average is sampled every 5 s during each run and printed with it.
Prints figures only; it asserts no time.

    .venv/bin/python bench/screen_scale.py                      # 10M and 100M, pandas <= 10M
    .venv/bin/python bench/screen_scale.py --rows 1000000 --pandas-max 1000000
    .venv/bin/python bench/screen_scale.py --rows 1000000 --engines duckdb spark --pandas-max 0
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def generate(rows: int, path: Path) -> float:
    """Write ``rows`` synthetic dispensings (benzodiazepines and opioids) with DuckDB."""
    import duckdb

    from benzosafe.knowledge import load
    from benzosafe.population.drugs import drug_keys

    keys = [
        k.drug_key
        for k in drug_keys(load())
        if k.drug_class in ("benzodiazepines", "opioids") and k.drug_key == k.ingredient
    ]
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    benzos = [k for k in keys if k in {b.id for b in load().benzodiazepines.values()}]
    opioids = [k for k in keys if k not in benzos]
    bz = "[" + ", ".join(f"'{k}'" for k in benzos) + "]"
    op = "[" + ", ".join(f"'{k}'" for k in opioids) + "]"
    # Twelve fills a patient at a steady pace: 60% benzodiazepine only, 30% opioid only,
    # 10% both (alternating); 10% double their dose half-way; 5% of fills from another
    # prescriber or pharmacy. Dates are typed DATE columns, as Parquet exports carry them.
    con.execute(
        f"""
COPY (
  SELECT
    CAST(i AS VARCHAR) AS fill_id,
    'P' || CAST(p AS VARCHAR) AS patient_id,
    DATE '1935-01-01' + CAST(hash(p) % 25000 AS INTEGER) AS birth_date,
    DATE '2023-01-01' + CAST(hash(p, 1) % 60 + k * pace AS INTEGER) AS fill_date,
    CASE WHEN profile < 6 OR (profile = 9 AND k % 2 = 0)
      THEN {bz}[1 + CAST(hash(p, 2) % {len(benzos)} AS INTEGER)]
      ELSE {op}[1 + CAST(hash(p, 3) % {len(opioids)} AS INTEGER)] END AS drug,
    CAST(ds * CASE WHEN hash(p, 4) % 10 = 0 AND k >= 6 THEN 2 ELSE 1 END AS DOUBLE) AS quantity,
    ds AS days_supply,
    CAST([0.25, 0.5, 1.0, 2.0, 5.0, 10.0][1 + CAST(hash(p, 5) % 6 AS INTEGER)] AS DOUBLE)
      AS strength_mg,
    'D' || CAST(CASE WHEN hash(i, 6) % 20 = 0 THEN hash(i, 7) % 50000
                     ELSE hash(p, 8) % 50000 END AS VARCHAR) AS prescriber_id,
    'R' || CAST(CASE WHEN hash(i, 9) % 20 = 0 THEN hash(i, 10) % 5000
                     ELSE hash(p, 11) % 5000 END AS VARCHAR) AS pharmacy_id
  FROM (
    SELECT i, i // 12 AS p, i % 12 AS k, hash(i // 12, 12) % 10 AS profile,
      [20, 30, 45][1 + CAST(hash(i // 12, 13) % 3 AS INTEGER)] AS pace,
      [7, 14, 30][1 + CAST(hash(i // 12, 14) % 3 AS INTEGER)] AS ds
    FROM range({rows}) t(i)
  )
) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
"""  # noqa: S608  the bench's own drug keys and scratch path, no outside text
    )
    con.close()
    return time.perf_counter() - started


DUCKDB_CHILD = """
import json, sys, time
from pathlib import Path
from benzosafe.knowledge import load
from benzosafe.population.engines import DuckDBEngine
from benzosafe.population.screen import screen, write_flags
path, out, limit = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
started = time.perf_counter()
engine = DuckDBEngine(memory_limit=limit)
result = screen(engine, path, "parquet", load())
write_flags(engine, out)
seconds = time.perf_counter() - started
rates = [[r.rule, r.label, r.numerator, r.denominator, r.not_evaluated] for r in result.rates]
print(json.dumps({"seconds": seconds, "flags": result.flags, "rows": result.rows_read,
                  "rates": rates, "malformed": result.malformed,
                  "rows_screened": result.rows_screened, "patients": result.patients,
                  "summary": result.to_dict()}))
"""
PANDAS_CHILD = (
    "import sys; sys.path.insert(0, {bench!r}); import pandas_screen; pandas_screen.main()"
)
PANDAS_FULL = "pandas (same output: flags, values, evidence, rates)"
PANDAS_FLAGS = "pandas (flags only, no values, evidence or rates)"


@contextmanager
def sampled_load(every: float = 5.0) -> Iterator[list[float]]:
    """The 1-minute load average, sampled every ``every`` seconds while the block runs."""
    samples = [os.getloadavg()[0]]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(every):
            samples.append(os.getloadavg()[0])

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()
        samples.append(os.getloadavg()[0])


def load_text(samples: list[float]) -> str:
    return f"load average {min(samples):.1f} to {max(samples):.1f}"


def child(code: str, *args: str) -> tuple[dict[str, Any], float, float]:
    """Run ``code`` in a fresh interpreter; its JSON line, wall seconds and peak RSS in GB
    (of that process; not of any it starts, such as Spark's JVM)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"child failed:\n{err.read()[-3000:]}")
        info = json.loads(out.read().strip().splitlines()[-1])
    return info, wall, usage.ru_maxrss / 1024 / 1024


def compare(
    duck_out: Path, duck: dict[str, Any], pandas_out: Path, mine: dict[str, Any], full: bool
) -> tuple[bool, bool | None, list[str]]:
    """Whether pandas flagged the same (patient, rule) pairs as DuckDB and, for the full
    version, gave the same values, evidence, rates and malformed counts; a few differences."""
    import pandas as pd

    import pandas_screen

    notes: list[str] = []
    if not full:
        theirs = pd.read_parquet(duck_out, columns=["patient_id", "rule"])
        ours = pd.read_parquet(pandas_out, columns=["patient_id", "rule"])
        a = set(zip(theirs["patient_id"], theirs["rule"], strict=True))
        b = set(zip(ours["patient_id"], ours["rule"], strict=True))
        notes += [f"only duckdb: {k}" for k in sorted(a - b)[:5]]
        notes += [f"only pandas: {k}" for k in sorted(b - a)[:5]]
        return a == b, None, notes
    columns = ["patient_id", "rule", "value", "evidence"]
    d = {
        (p, r): (v, e)
        for p, r, v, e in pandas_screen.flag_rows(pd.read_parquet(duck_out, columns=columns))
    }
    m = {
        (p, r): (v, e)
        for p, r, v, e in pandas_screen.flag_rows(pd.read_parquet(pandas_out, columns=columns))
    }
    same_flags = d.keys() == m.keys()
    notes += [f"only duckdb: {k} {d[k]}" for k in sorted(d.keys() - m.keys())[:5]]
    notes += [f"only pandas: {k} {m[k]}" for k in sorted(m.keys() - d.keys())[:5]]
    differ = sorted(k for k in d.keys() & m.keys() if d[k] != m[k])
    notes += [f"differs: {k} duckdb {d[k]} pandas {m[k]}" for k in differ[:5]]
    if len(differ) > 5:
        notes.append(f"... {len(differ)} flags differ in value or evidence")
    same_rates = duck["rates"] == mine["rates"]
    if not same_rates:
        for a, b in zip(duck["rates"], mine["rates"], strict=False):
            if a != b:
                notes.append(f"rate differs: duckdb {a} pandas {b}")
        if len(duck["rates"]) != len(mine["rates"]):
            notes.append(f"rates: duckdb {len(duck['rates'])}, pandas {len(mine['rates'])}")
    counts = ("malformed", "rows_screened", "patients")
    same_counts = all(duck[c] == mine[c] for c in counts)
    notes += [f"{c}: duckdb {duck[c]} pandas {mine[c]}" for c in counts if duck[c] != mine[c]]
    return same_flags, same_flags and not differ and same_rates and same_counts, notes


def run_spark(path: Path, out: Path, master: str, rows: int) -> tuple[dict[str, Any], float]:
    """Screen ``path`` with Spark in a child process; print its figures; its summary, wall."""
    import spark_scale

    code = spark_scale.SPARK_CHILD.format(bench=str(ROOT / "bench"), submit=spark_scale.SUBMIT_ARGS)
    with sampled_load() as load:
        info, wall, _ = child(code, str(path), str(out), master)
    flags = sum(info["summary"]["flags"].values())
    procs = info["processes"]
    python = sum(p["peak_rss"] for p in procs if p["name"].startswith("python"))
    jvm = sum(p["peak_rss"] for p in procs if p["name"] == "java")
    print(
        f"spark  {rows:>12,} rows: {wall:7.1f} s wall, {rows / wall:12,.0f} rows/s, "
        f"peak RSS of the Python driver {spark_scale.gb(python)}, of the JVM (driver and "
        f"executor, {master}) {spark_scale.gb(jvm)}, flags {flags:,}; {load_text(load)}"
    )
    for executor, peaks in info["executors"].items():
        text = ", ".join(f"{k} {spark_scale.gb(v)}" for k, v in peaks.items())
        print(f"  spark's peak metrics of executor {executor}: {text}")
    return info["summary"], wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000_000, 100_000_000])
    parser.add_argument("--pandas-max", type=int, default=10_000_000)
    parser.add_argument("--memory-limit", default="6GB", help="DuckDB memory_limit")
    parser.add_argument("--dir", type=Path, default=None, help="where to write the tables")
    parser.add_argument(
        "--engines", nargs="+", choices=("duckdb", "spark"), default=["duckdb"],
        help="the engines to screen with (pandas runs only with duckdb, to compare with it)",
    )  # fmt: skip
    parser.add_argument("--spark-master", default="local[*]", help="Spark master URL")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "bench"))
    workdir = args.dir or Path(tempfile.mkdtemp(prefix="benzosafe-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"tables in {workdir}; memory_limit {args.memory_limit}; pandas up to {args.pandas_max}")
    now = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"engines {' '.join(args.engines)}; load average {now} (1, 5, 15 min)")
    for rows in sorted(args.rows):
        path = workdir / f"dispensing-{rows}.parquet"
        if not path.exists():
            took = generate(rows, path)
            print(f"generated {rows:,} rows in {took:.1f} s ({path.stat().st_size / 1e9:.2f} GB)")
        out = workdir / f"flags-{rows}.parquet"
        if "duckdb" in args.engines:
            with sampled_load() as load:
                info, wall, peak = child(DUCKDB_CHILD, str(path), str(out), args.memory_limit)
            flags = sum(info["flags"].values())
            print(
                f"duckdb {rows:>12,} rows: {wall:7.1f} s wall, {rows / wall:12,.0f} rows/s, "
                f"peak RSS {peak:5.2f} GB, flags {flags:,}; {load_text(load)}"
            )
        if "spark" in args.engines:
            spark_out = workdir / f"spark-flags-{rows}.parquet"
            summary, spark_wall = run_spark(path, spark_out, args.spark_master, rows)
            if "duckdb" in args.engines:
                import spark_scale

                for line in spark_scale.compare(out, info["summary"], spark_out, summary):
                    print(f"  {line}")
                print(
                    f"ratio {rows:>12,} rows: spark {spark_wall:.1f} s, duckdb {wall:.1f} s, "
                    f"spark takes {spark_wall / wall:.1f}x as long"
                )
        if rows > args.pandas_max or "duckdb" not in args.engines:
            continue
        walls: dict[str, float] = {}
        for label, full in ((PANDAS_FULL, True), (PANDAS_FLAGS, False)):
            extra = () if full else ("--flags-only",)
            code = PANDAS_CHILD.format(bench=str(ROOT / "bench"))
            with tempfile.TemporaryDirectory(prefix="benzosafe-pandas-") as scratch:
                mine = Path(scratch) / "flags.parquet"
                pinfo, pwall, ppeak = child(code, str(path), str(mine), *extra)
                walls[label] = pwall
                print(
                    f"{label} {rows:>12,} rows: {pwall:7.1f} s wall, "
                    f"{rows / pwall:12,.0f} rows/s, "
                    f"peak RSS {ppeak:5.2f} GB, flags {sum(pinfo['flags'].values()):,}"
                )
                same_flags, same_all, notes = compare(out, info, mine, pinfo, full)
            line = f"  same flags as duckdb: {same_flags}"
            if same_all is not None:
                line += f"; same values, evidence and rates as duckdb: {same_all}"
            print(line)
            for note in notes:
                print(f"    {note}")
        for label, pwall in walls.items():
            print(f"ratio {rows:>12,} rows: duckdb is {pwall / wall:.1f}x faster than {label}")


if __name__ == "__main__":
    main()
