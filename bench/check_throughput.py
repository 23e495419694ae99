"""Benchmark: prescription checks per second in-process, and the CLI's cold start.

Prints figures, asserts nothing. Targets (issue #2): at least 20,000 checks per second
on one core; a cold `benzosafe check` in 0.3 s or less. Baselines measured in the same
run: a bare `python -c pass` start, for the cold-start ratio. Checks per second are also
given per second of this process's CPU time (a busy shared machine distorts the wall clock
far more), and for orders whose co-medications are the real-world strings of issue #16
(combination products, brands, a liquid by volume), resolved by the product index.

    .venv/bin/python bench/check_throughput.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benzosafe.clinical.check import check_prescription, parse_order, parse_patient
from benzosafe.knowledge import load

ORDERS: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (
        {"drug": "clonazepam", "dose": "0.5 mg", "frequency": "tid",
         "indication": "seizure-disorder", "duration_days": 120, "refills": 2,
         "days_supply": 30, "start": "2026-11-20"},
        {"age": 70, "weight": "60 kg", "conditions": ["sleep-apnoea"],
         "also_taking": ["oxycodone 10 mg qid", "gabapentin 300 mg tid"]},
    ),
    (
        {"drug": "Klonopin", "dose": "0.25 mg", "frequency": "bid", "indication": "panic-disorder",
         "prior_dose": "0.5 mg/day", "prior_start": "2026-11-01", "start": "2026-11-20"},
        {"age": 34},
    ),
    (
        {"drug": "lorazepam", "dose": "1 mg", "frequency": "tid", "indication": "anxiety"},
        {"age": 52, "also_taking": ["zolpidem 10 mg qhs"]},
    ),
]  # fmt: skip


REAL_WORLD = [
    (
        {"drug": "clonazepam", "dose": "0.5 mg", "frequency": "bid",
         "indication": "panic-disorder"},
        {"age": 45, "also_taking": ["Norco 10/325 q6h", "promethazine with codeine 5 mL q4h"]},
    ),
    (
        {"drug": "Klonopin", "dose": "1 mg", "frequency": "tid", "indication": "seizure-disorder"},
        {"age": 72, "also_taking": ["Suboxone 8/2 mg daily", "Tylenol #3", "Zyxolam 5 mg"]},
    ),
]  # fmt: skip


def checks_per_second(
    seconds: float, parse: bool, orders: list[Any] = ORDERS,
    clock: Callable[[], float] = time.perf_counter,
) -> float:  # fmt: skip
    kb = load()
    parsed = [(parse_order(o, kb), parse_patient(p, kb)) for o, p in orders]
    done = 0
    start = clock()
    while clock() - start < seconds:
        for (order_data, patient_data), (order, patient) in zip(orders, parsed, strict=True):
            if parse:
                order, patient = parse_order(order_data, kb), parse_patient(patient_data, kb)
            check_prescription(order, patient, kb)
        done += len(orders)
    return done / (clock() - start)


def cold_start(args: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(args, capture_output=True, check=False)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    print(f"checks/s, pre-parsed input:   {checks_per_second(3.0, parse=False):>10,.0f}")
    print(f"checks/s, parsing JSON shape: {checks_per_second(3.0, parse=True):>10,.0f}")
    cpu = time.process_time
    print(
        f"per CPU second: pre-parsed {checks_per_second(3.0, False, clock=cpu):,.0f}, "
        f"parsing {checks_per_second(3.0, True, clock=cpu):,.0f}"
    )
    print(
        f"issue #16 co-medications, per CPU second: pre-parsed "
        f"{checks_per_second(3.0, False, REAL_WORLD, cpu):,.0f}, parsing "
        f"{checks_per_second(3.0, True, REAL_WORLD, cpu):,.0f}"
    )
    print("target: >= 20,000 checks/s on one core (this process is single-threaded)")
    cli = str(Path(sys.executable).with_name("benzosafe"))
    check = [cli, "check", "--drug", "clonazepam", "--dose", "0.5 mg", "--frequency", "tid",
             "--indication", "seizure-disorder", "--age", "70", "--json",
             "--fail-on", "never"]  # fmt: skip
    python = cold_start([sys.executable, "-c", "pass"], 10)
    bench = cold_start(check, 10)
    print(f"cold start, python -c pass (baseline): {python:.3f} s")
    print(f"cold start, benzosafe check --json:    {bench:.3f} s  ({bench / python:.1f}x baseline)")
    also = cold_start([*check, "--also-taking", "Norco 10/325 q6h"], 10)
    print(f"cold start, ... --also-taking (reads the product index): {also:.3f} s")
    print("target: <= 0.3 s")
    one, five, fifteen = os.getloadavg()
    print(
        f"machine load (1, 5, 15 min): {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
