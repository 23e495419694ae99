"""Where a DuckDB screen spends its time: wall and CPU seconds of each progress step.

Screens one dispensing table in this process (as ``benzosafe screen`` does) and prints each
step of :func:`benzosafe.population.screen.screen` (reading and checking rows, selecting
each part's fills, the summary, each measure, the evidence) and the writing of the flags,
then the total wall time and peak resident memory. ``--parts`` forces the number of parts,
to compare part sizes on one table. Prints figures only; it asserts nothing.

    .venv/bin/python bench/screen_profile.py /tmp/bench-scale/dispensing-100000000.parquet
    .venv/bin/python bench/screen_profile.py TABLE --parts 3 --memory-limit 6GB

Tables come from ``bench/screen_scale.py`` (``--dir`` keeps them).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from benzosafe.knowledge import load
from benzosafe.population.engines import DuckDBEngine
from benzosafe.population.screen import screen, write_flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("table", type=Path, help="a dispensing table in Parquet")
    parser.add_argument("--memory-limit", default="6GB", help="DuckDB memory_limit")
    parser.add_argument("--parts", type=int, default=None, help="force this many parts")
    args = parser.parse_args()

    engine = DuckDBEngine(memory_limit=args.memory_limit, parts=args.parts)
    started = time.perf_counter()
    name: str | None = None
    wall, cpu = started, time.process_time()

    def step(next_name: str | None) -> None:
        nonlocal name, wall, cpu
        now, now_cpu = time.perf_counter(), time.process_time()
        if name is not None:
            print(f"{now - wall:7.2f} s wall {now_cpu - cpu:7.2f} s cpu  {name}", flush=True)
        name, wall, cpu = next_name, now, now_cpu

    with tempfile.TemporaryDirectory() as tmp:
        result = screen(engine, args.table, "parquet", load(), progress=step)
        step("writing the flags")
        write_flags(engine, Path(tmp) / "flags.parquet")
        step(None)
    engine.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(
        f"total {time.perf_counter() - started:.1f} s, {result.rows_read:,} rows, "
        f"peak RSS {peak:.2f} GB, flags {sum(result.flags.values()):,}"
    )


if __name__ == "__main__":
    main()
