"""Benchmark: prescription checks per second in-process, and the CLI's cold start.

Prints figures, asserts nothing. Targets (issue #2): at least 20,000 checks per second
on one core; a cold `benzosafe check` in 0.3 s or less. Baselines measured in the same
run: a bare `python -c pass` start, for the cold-start ratio.

    .venv/bin/python bench/check_throughput.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
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


def checks_per_second(seconds: float, parse: bool) -> float:
    kb = load()
    parsed = [(parse_order(o, kb), parse_patient(p, kb)) for o, p in ORDERS]
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for (order_data, patient_data), (order, patient) in zip(ORDERS, parsed, strict=True):
            if parse:
                order, patient = parse_order(order_data, kb), parse_patient(patient_data, kb)
            check_prescription(order, patient, kb)
        done += len(ORDERS)
    return done / (time.perf_counter() - start)


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
    print("target: >= 20,000 checks/s on one core (this process is single-threaded)")
    cli = str(Path(sys.executable).with_name("benzosafe"))
    check = [cli, "check", "--drug", "clonazepam", "--dose", "0.5 mg", "--frequency", "tid",
             "--indication", "seizure-disorder", "--age", "70", "--json",
             "--fail-on", "never"]  # fmt: skip
    python = cold_start([sys.executable, "-c", "pass"], 10)
    bench = cold_start(check, 10)
    print(f"cold start, python -c pass (baseline): {python:.3f} s")
    print(f"cold start, benzosafe check --json:    {bench:.3f} s  ({bench / python:.1f}x baseline)")
    print("target: <= 0.3 s")


if __name__ == "__main__":
    main()
