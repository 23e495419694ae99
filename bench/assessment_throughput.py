"""Benchmark: instrument scores, side-effect triages and level-of-care recommendations per second.

Prints figures, asserts nothing; also a cold ``benzosafe triage`` through the CLI.

    .venv/bin/python bench/assessment_throughput.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from benzosafe.clinical.instruments import score
from benzosafe.clinical.level_of_care import recommend_level_of_care
from benzosafe.clinical.triage import triage
from benzosafe.knowledge import load

INTAKE = {
    "drug": "clonazepam",
    "daily_dose": "2 mg/day",
    "duration_of_use_months": 18,
    "withdrawal_seizure_history": True,
    "other_substances": ["alcohol"],
    "age": 70,
    "support_at_home": True,
}
REPORTS = [
    ["chest pain", "dizzy"],
    ["I want to kill myself"],
    ["iregular heartbeat"],
    ["my heart is racing", "sleepy"],
    ["wobbly elbows"],
]


def rate(label: str, fn: Callable[[int], object], n: int) -> None:
    fn(0)  # warm the caches
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    seconds = time.perf_counter() - start
    print(f"{label:<28} {n / seconds:>10,.0f} per second ({n} in {seconds:.2f} s)")


def main() -> None:
    kb = load()
    rate("score sds", lambda i: score("sds", [i % 4, 1, 2, 0, 1], kb, age=40 + i % 40), 20_000)
    rate("score ciwa-b (20 items)", lambda i: score("ciwa-b", [i % 5] * 20, kb), 20_000)
    rate("triage (known phrases)", lambda i: triage(REPORTS[i % 4], kb), 5_000)
    rate("triage (unrecognised)", lambda i: triage(REPORTS[4], kb), 2_000)
    rate("level of care", lambda i: recommend_level_of_care(INTAKE, kb), 10_000)
    cmd = [sys.executable, "-m", "benzosafe", "triage", "chest pain", "--json"]
    times = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    print(f"{'cold CLI triage (median of 5)':<28} {statistics.median(times):>10.3f} s")


if __name__ == "__main__":
    main()
