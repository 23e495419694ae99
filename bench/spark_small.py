"""Benchmark: a small screen on Spark against DuckDB on the same table, and where Spark's
time goes.

Writes the synthetic table of ``benzosafe synth dispensing --patients N`` (2,000 by default,
about 5,000 rows, with its exclusions), then runs ``benzosafe screen`` on it as a user does,
a fresh process each time, in turn (DuckDB, Spark, DuckDB, Spark, ...) so a drift of the
machine's speed touches both, and prints each run's wall seconds, the medians and their
ratio, with the load average before and after (after one uncounted Spark run: the first
screen of an installation makes the driver JVM's class archive). Issue #19's target: the
Spark screen in at most 60 s on the 2-core machine, and at most 10 times DuckDB's.

``--profile`` instead screens the table once on Spark in this process (a SparkSession of
``--master``, as ``benzosafe screen`` makes one) and prints each step of the screen: wall
seconds, CPU seconds of the JVM, and the Spark jobs, stages and tasks it ran (Spark's status
tracker), then the start of the session and the writing of the flags.

Prints figures only; it asserts nothing.

    .venv/bin/python bench/spark_small.py [--patients 2000] [--runs 3]
    .venv/bin/python bench/spark_small.py --profile
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benzosafe.knowledge import load
from benzosafe.population.synth import write_population


def load_average() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def screen_argv(engine: str, table: Path, exclusions: Path, out: Path, master: str) -> list[str]:
    argv = [sys.executable, "-m", "benzosafe", "screen", str(table), "--engine", engine]
    argv += ["--exclusions", str(exclusions), "--out", str(out), "--json", str(out) + ".json"]
    return argv + (["--spark-master", master] if engine == "spark" else [])


def timed(argv: list[str]) -> float:
    """Wall seconds of one whole run of ``argv`` (start-up included); a failure stops all."""
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def compare(table: Path, exclusions: Path, runs: int, master: str, tmp: Path) -> None:
    # one Spark screen first, not counted: the first screen of a Spark and Java installation
    # makes the driver's class archive (benzosafe.population.engines.class_archive_options)
    print(load_average(), "(before the uncounted first Spark run)", flush=True)
    first = timed(screen_argv("spark", table, exclusions, tmp / "first.parquet", master))
    print(f"first Spark run (not counted) {first:7.2f} s wall", flush=True)
    print(load_average(), "(before)", flush=True)
    walls: dict[str, list[float]] = {"duckdb": [], "spark": []}
    for run in range(runs):
        for engine in walls:
            out = tmp / f"{engine}-{run}.parquet"
            walls[engine].append(timed(screen_argv(engine, table, exclusions, out, master)))
            print(f"run {run + 1} {engine:6s} {walls[engine][-1]:7.2f} s wall", flush=True)
    duck, spark = (statistics.median(walls[e]) for e in ("duckdb", "spark"))
    ratios = [s / d for s, d in zip(walls["spark"], walls["duckdb"], strict=True)]
    print(f"median: DuckDB {duck:.2f} s, Spark {spark:.2f} s ({master}), ratio {spark / duck:.1f}x")
    print(f"ratio run by run: {', '.join(f'{r:.1f}x' for r in ratios)}")
    print(load_average(), "(after)")


def profile(table: Path, exclusions: Path, master: str, tmp: Path) -> None:
    from benzosafe.population.engines import SparkEngine, input_bytes, spark_session
    from benzosafe.population.run import read_exclusions
    from benzosafe.population.screen import ScreenOptions, screen, write_flags

    print(load_average(), "(before)", flush=True)
    started = time.perf_counter()
    session = spark_session(master, input_bytes(table))
    context = session.sparkContext
    tracker = context.statusTracker()
    # the driver's JVM, to read its CPU time (in a local session it also runs the tasks)
    jvm = int(context._jvm.java.lang.ProcessHandle.current().pid())
    ticks = os.sysconf("SC_CLK_TCK")

    def jvm_cpu() -> float:
        fields = Path(f"/proc/{jvm}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    print(f"{time.perf_counter() - started:7.2f} s wall {jvm_cpu():7.2f} s cpu  starting Spark")
    seen: set[int] = set()
    totals = [0.0, 0.0, 0, 0, 0]

    def ran() -> tuple[int, int, int]:
        """Jobs, stages and tasks run since the last call (skipped stages not counted)."""
        jobs = [j for j in tracker.getJobIdsForGroup(None) if j not in seen]
        seen.update(jobs)
        stages = tasks = 0
        for job in jobs:
            info = tracker.getJobInfo(job)
            for stage_id in info.stageIds if info else []:
                stage: Any = tracker.getStageInfo(stage_id)
                if stage is not None and stage.numCompletedTasks > 0:
                    stages, tasks = stages + 1, tasks + stage.numCompletedTasks
        return len(jobs), stages, tasks

    name: str | None = None
    wall, cpu = time.perf_counter(), jvm_cpu()

    def step(next_name: str | None) -> None:
        nonlocal name, wall, cpu
        now, now_cpu = time.perf_counter(), jvm_cpu()
        jobs, stages, tasks = ran()
        if name is not None:
            print(
                f"{now - wall:7.2f} s wall {now_cpu - cpu:7.2f} s cpu  {jobs:4d} jobs "
                f"{stages:4d} stages {tasks:5d} tasks  {name}",
                flush=True,
            )
            for i, x in enumerate((now - wall, now_cpu - cpu, jobs, stages, tasks)):
                totals[i] += x
        name, wall, cpu = next_name, now, now_cpu

    engine = SparkEngine(session=session)
    options = ScreenOptions(exclusions=read_exclusions(exclusions))
    ran()
    result = screen(engine, table, "parquet", load(), options, progress=step)
    step("writing the flags")
    write_flags(engine, tmp / "flags.parquet")
    step(None)
    engine.close()
    wall_s, cpu_s, jobs, stages, tasks = totals
    print(
        f"screen and write: {wall_s:.1f} s wall, {cpu_s:.1f} s JVM cpu, {jobs} jobs, {stages} "
        f"stages, {tasks} tasks; {result.rows_read:,} rows; whole run "
        f"{time.perf_counter() - started:.1f} s"
    )
    print(load_average(), "(after)")
    session.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each engine")
    parser.add_argument("--master", default="local[2]", help="Spark master URL")
    parser.add_argument("--profile", action="store_true", help="Spark's steps, in-process")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-spark-small-") as name:
        tmp = Path(name)
        paths = write_population(args.patients, tmp / "dispensing.parquet", load(), seed=7)
        table, exclusions = paths["records"], paths["exclusions"]
        if args.profile:
            profile(table, exclusions, args.master, tmp)
        else:
            compare(table, exclusions, args.runs, args.master, tmp)


if __name__ == "__main__":
    main()
