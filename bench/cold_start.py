"""Benchmark: the cold start of `benzosafe check --json` against `python -c pass`.

Prints figures, asserts nothing. Target (issue #21): a cold `benzosafe check --json` of a
standard clonazepam order at most 8 times a bare `python -c pass`, both measured here in the
same run, taken in turn (A B A B ...) so that a drift of the machine's speed touches both.
Each figure is the median of the runs, as wall-clock seconds and as CPU seconds of the child
(user + system, from the operating system's accounting of the finished process), which a busy
shared machine distorts far less. Three kinds of start of the command are measured:

- ``cached``: the knowledge read from its snapshot file (the usual start, no pydantic);
- ``rebuilt``: no cache (``BENZOSAFE_CACHE_DIR=off``): every data file loaded and validated;
- ``--help``: the command line with no command run.

Every command runs with Python's bytecode cache on (in a folder of its own,
``PYTHONPYCACHEPREFIX``), as an installed package has it, even where the environment sets
``PYTHONDONTWRITEBYTECODE``: otherwise every run of benzosafe compiles its modules from source
and the figure is of the compiler. ``--source`` keeps the environment's setting instead.

    .venv/bin/python bench/cold_start.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

CHECK = ["check", "--drug", "clonazepam", "--dose", "0.5 mg", "--frequency", "bid",
         "--indication", "panic-disorder", "--age", "40", "--json"]  # fmt: skip


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``argv`` as a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)  # fmt: skip
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--source", action="store_true", help="keep PYTHONDONTWRITEBYTECODE")
    args = parser.parse_args()
    runs = args.runs
    cache = tempfile.mkdtemp(prefix="benzosafe-cache-")
    env = {**os.environ, "BENZOSAFE_CACHE_DIR": cache}
    if not args.source:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="benzosafe-pyc-")
    benzosafe = [sys.executable, "-m", "benzosafe"]
    commands = {
        "python -c pass": ([sys.executable, "-c", "pass"], env),
        "check --json (cached)": ([*benzosafe, *CHECK], env),
        "check --json (rebuilt)": ([*benzosafe, *CHECK], {**env, "BENZOSAFE_CACHE_DIR": "off"}),
        "--help": ([*benzosafe, "--help"], env),
    }
    load_before = os.getloadavg()[0]
    for argv, given in commands.values():  # warm-up: the file cache, the knowledge cache
        timed(argv, given)
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, (argv, given) in commands.items():
            figures[name].append(timed(argv, given))
    base_wall = statistics.median(w for w, _ in figures["python -c pass"])
    base_cpu = statistics.median(c for _, c in figures["python -c pass"])
    bytecode = "from source" if "PYTHONDONTWRITEBYTECODE" in env else "bytecode cached"
    load = f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after"
    print(f"{runs} runs each, in turn, {bytecode}; {load}")
    print(f"{'command':<26}{'wall s':>9}{'ratio':>8}{'cpu s':>9}{'ratio':>8}")
    for name, values in figures.items():
        wall = statistics.median(w for w, _ in values)
        cpu = statistics.median(c for _, c in values)
        print(f"{name:<26}{wall:>9.3f}{wall / base_wall:>8.1f}{cpu:>9.3f}{cpu / base_cpu:>8.1f}")
    print("target: check --json (cached) at most 8 x python -c pass")


if __name__ == "__main__":
    main()
