"""The Spark half of ``screen_scale.py``: a Spark screen in a child process with its memory,
and its output compared with DuckDB's.

The child screens a Parquet table with ``SparkEngine`` (``local[2]`` by default, the CLI's
configuration), writes the flags with Spark's own writer (a Parquet directory) and prints one
JSON line: its screen summary, and memory measured two ways before it exits:

- peak resident memory (``VmHWM`` of ``/proc/PID/status``, the kernel's high-water mark, so
  no peak between two samples is missed) of the Python driver process and of the JVM it
  started (in local mode driver and executor are that one JVM);
- Spark's own executor metrics, from the application status store (the data behind the
  status REST API, read through py4j since the screen runs with the UI off): the peaks of
  ``JVMHeapMemory``, ``JVMOffHeapMemory``, ``OnHeapExecutionMemory``,
  ``OnHeapStorageMemory`` and ``ProcessTreeJVMRSSMemory`` of every executor (local mode: one,
  ``driver``), polled every second.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

# Executor metrics every second (Spark's default polls only at each heartbeat, every 10 s),
# with the process-tree RSS. Passed to spark-submit: the engine's own settings still apply.
SUBMIT_ARGS = (
    "--conf spark.executor.processTreeMetrics.enabled=true "
    "--conf spark.executor.metrics.pollingInterval=1s pyspark-shell"
)
METRICS = (
    "JVMHeapMemory",
    "JVMOffHeapMemory",
    "OnHeapExecutionMemory",
    "OnHeapStorageMemory",
    "ProcessTreeJVMRSSMemory",
)

SPARK_CHILD = """
import json, os, sys, time
from pathlib import Path
sys.path.insert(0, {bench!r})
os.environ["PYSPARK_SUBMIT_ARGS"] = {submit!r}
import spark_scale
from benzosafe.knowledge import load
from benzosafe.population.engines import SparkEngine
from benzosafe.population.screen import screen, write_flags
path, out, master = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
started = time.perf_counter()
engine = SparkEngine(master=master)
result = screen(engine, path, "parquet", load())
write_flags(engine, out)
seconds = time.perf_counter() - started
from pyspark.sql import SparkSession
info = {{"seconds": seconds, "summary": result.to_dict(),
        "executors": spark_scale.executor_peaks(SparkSession.getActiveSession()),
        "processes": spark_scale.peak_rss_of_tree(os.getpid())}}
print(json.dumps(info))
"""


def executor_peaks(session: Any) -> dict[str, dict[str, int]]:
    """Peak executor metrics (bytes) by executor id, from Spark's status store."""
    store = session.sparkContext._jsc.sc().statusStore()
    executors = store.executorList(False)
    out: dict[str, dict[str, int]] = {}
    for i in range(executors.size()):
        summary = executors.apply(i)
        peaks = summary.peakMemoryMetrics()
        if peaks.isDefined():
            out[str(summary.id())] = {m: int(peaks.get().getMetricValue(m)) for m in METRICS}
    return out


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
        return dict(line.rstrip("\n").split(":\t", 1) for line in handle if ":\t" in line)


def peak_rss_of_tree(root: int) -> list[dict[str, Any]]:
    """``root`` and every process under it: pid, command name, peak RSS (``VmHWM``, bytes)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += [p for p, parent in parents.items() if parent == pid]
    out = []
    for pid in tree:
        try:
            status = _status(pid)
        except OSError:
            continue
        if "VmHWM" in status:  # kernel threads and zombies have none
            kb = int(status["VmHWM"].split()[0])
            out.append({"pid": pid, "name": status["Name"], "peak_rss": kb * 1024})
    return out


def read_flags(path: Path) -> list[tuple[Any, ...]]:
    """Every flag row of a Parquet file or directory, evidence as a tuple, sorted."""
    import pyarrow.parquet as pq

    from benzosafe.population.screen import FLAG_COLUMNS

    table = pq.read_table(path, columns=list(FLAG_COLUMNS))
    rows = zip(*(table[c].to_pylist() for c in FLAG_COLUMNS), strict=True)
    return sorted(tuple(tuple(v) if isinstance(v, list) else v for v in row) for row in rows)


def _rounded(row: tuple[Any, ...], at: int) -> tuple[Any, ...]:
    return tuple(round(v, 6) if i == at and isinstance(v, float) else v for i, v in enumerate(row))


def compare(
    duck_out: Path, duck: dict[str, Any], spark_out: Path, spark: dict[str, Any]
) -> list[str]:
    """Lines saying whether the two summaries and the two sets of flag rows are identical,
    and a few differences when not."""
    from benzosafe.population.screen import FLAG_COLUMNS

    lines: list[str] = []
    ignored = ("engine", "seconds")
    a = {k: v for k, v in duck.items() if k not in ignored}
    b = {k: v for k, v in spark.items() if k not in ignored}
    same = a == b
    lines.append(
        "summary (rows read, screened and outside the period, patients, malformed rows by "
        "reason, every measure's numerator, denominator and not evaluated by reason, flags by "
        f"rule, period, parameters) identical: {same}"
    )
    for key in sorted(a.keys() | b.keys()):
        if key == "rates" and a.get(key) != b.get(key):
            for x, y in zip(a["rates"], b["rates"], strict=False):
                if x != y:
                    lines.append(f"    rate differs: duckdb {x} spark {y}")
        elif a.get(key) != b.get(key):
            lines.append(f"    {key}: duckdb {a.get(key)!r} spark {b.get(key)!r}")
    d, s = read_flags(duck_out), read_flags(spark_out)
    value = FLAG_COLUMNS.index("value")
    exact = d == s
    dr, sr = ({_rounded(r, value) for r in rows} for rows in (d, s))
    lines.append(
        f"flags: duckdb {len(d):,} rows, spark {len(s):,}; identical rows (all "
        f"{len(FLAG_COLUMNS)} columns, value to 6 places): {dr == sr and len(d) == len(s)}; "
        f"values bit for bit: {exact}"
    )
    lines += [f"    only duckdb: {r}" for r in sorted(dr - sr)[:5]]
    lines += [f"    only spark: {r}" for r in sorted(sr - dr)[:5]]
    if not exact and dr == sr:
        off = max(
            (abs(x[value] - y[value]) for x, y in zip(d, s, strict=True) if x != y),
            default=0.0,
        )
        lines.append(f"    largest difference of a value: {off:.3g}")
    return lines


def gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if not math.isnan(n) else "?"
