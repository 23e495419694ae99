"""Benchmark: medication names resolved per second, and the product index's load time.

Prints figures, asserts nothing. Target (issue #16): at least 100,000 names per second, so
that resolving co-medications does not slow the check below its 20,000 checks/s. The mix is
what the faces meet: product and brand names of the CDC files, NDCs in their 11-digit,
5-4-2 and 10-digit spellings, RxNorm codes, and free text with strengths and frequencies.
Baselines measured in the same run: the plain loop over the same names (calling a no-op),
and a dict look-up of each exact string (the floor for any resolver). The machine's load is
printed with the figures: the machine is shared, and a busy one lowers them. The first-sight
and afresh rates are also given per second of this process's CPU time (time.process_time),
which a busy machine distorts far less than the wall clock.

    .venv/bin/python bench/resolve_names.py
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from benzosafe.clinical import resolve as resolver
from benzosafe.clinical import written_dose
from benzosafe.knowledge.products import ProductIndex, load_products
from benzosafe.knowledge.products_spelling import ndc_spellings

FREE_TEXT = [
    "oxycodone/acetaminophen 5/325 mg q6h", "hydrocodone-APAP 10/325", "Percocet", "Norco 10/325",
    "Tylenol #3", "Suboxone 8/2 mg daily", "promethazine with codeine 5 mL q4h",
    "oxycodone 10 mg qid", "fentanyl 75 mcg/h", "methadone 10 mg bid", "Xanax XR 1 mg",
    "clonazePAM 0.25 MG Oral Tablet", "gabapentin 300 mg tid", "zolpidem 10 mg qhs", "Tylenol",
]  # fmt: skip


def mix(index: ProductIndex, size: int, seed: int = 16) -> list[str]:
    """``size`` names: a quarter each of product names, NDC spellings, RxNorm codes with
    RxNorm names, and free text (the issue's strings, and name + strength + frequency)."""
    rng = random.Random(seed)  # noqa: S311  a reproducible mix of names, nothing secret
    products = index.products()
    names = sorted({p.brand or p.generic for p in products})
    ndcs = sorted(index.by_ndc)
    coded = [p for p in products if p.rxnorm]
    with_strength = [p for p in products if p.known_strengths and p.brand and p.form]
    out: list[str] = []
    while len(out) < size:
        out.append(rng.choice(names))
        out.append(rng.choice(ndc_spellings(rng.choice(ndcs))))
        product = rng.choice(coded)
        out.append(rng.choice((product.rxnorm[0], product.name)))
        if rng.random() < 0.5:
            out.append(rng.choice(FREE_TEXT))
        else:
            product = rng.choice(with_strength)
            value, unit = product.known_strengths[0]
            freq = rng.choice(("bid", "tid", "q6h", "daily", "qhs"))
            out.append(f"{product.brand} {format(value.normalize(), 'f')} {unit} {freq}")
    return out[:size]


def rate(names: list[str], call: Callable[[str], object], seconds: float) -> float:
    done = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for name in names:
            call(name)
        done += len(names)
    return done / (time.perf_counter() - start)


def uncached_rate(
    index: ProductIndex, names: list[str], seconds: float,
    clock: Callable[[], float] = time.perf_counter,
) -> float:  # fmt: skip
    """Every name resolved afresh: the memo of resolutions is emptied before each one (the
    index's own tables, built at first use of a name, a strength or an ingredient, stay)."""
    clear = resolver._resolve.cache_clear
    done = 0
    start = clock()
    while clock() - start < seconds:
        for name in names:
            clear()
            resolver.resolve(index, name)
        done += len(names)
    return done / (clock() - start)


def first_pass_rate(
    index: ProductIndex, names: list[str], clock: Callable[[], float] = time.perf_counter
) -> float:
    """The distinct names once each, with every memo of the resolver and the index emptied
    first: the cost of names never seen before (the index itself already loaded)."""
    for cached in (resolver._resolve, resolver._group, resolver._narrowed, resolver._drug,
                   resolver._group_mme, written_dose.parse_dose, resolver.name_key):  # fmt: skip
        cached.cache_clear()
    index._ingredient_ids.clear()
    distinct = list(dict.fromkeys(names))
    start = clock()
    for name in distinct:
        resolver.resolve(index, name)
    return len(distinct) / (clock() - start)


def load_time(runs: int) -> tuple[float, float, float]:
    """Median seconds: a fresh process importing the index module and loading the index,
    the same process importing only, and (in-process) reading every product row as well."""
    code = "from benzosafe.knowledge.products import load_products; load_products()"
    imports = "import benzosafe.knowledge.products"
    cold = statistics.median(_timed([sys.executable, "-c", code]) for _ in range(runs))
    base = statistics.median(_timed([sys.executable, "-c", imports]) for _ in range(runs))
    load_products.cache_clear()
    t0 = time.perf_counter()
    load_products().validate()
    return cold, base, time.perf_counter() - t0


def _timed(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    t0 = time.perf_counter()
    index = load_products()
    loaded = time.perf_counter() - t0
    names = mix(index, 20_000)
    exact = {name: resolver.resolve(index, name) for name in names}  # also warms the memo
    distinct = len(set(names))
    print(f"mix: {len(names):,} names ({distinct:,} distinct): product names, NDC spellings, "
          "RxNorm codes and names, free text")  # fmt: skip
    first = first_pass_rate(index, names)
    first_cpu = statistics.median(first_pass_rate(index, names, time.process_time)
                                  for _ in range(5))  # fmt: skip
    fresh_cpu = uncached_rate(index, names[:4000], 3.0, time.process_time)
    loop = rate(names, lambda _name: None, 2.0)
    lookup = rate(names, exact.__getitem__, 2.0)
    cached = rate(names, lambda name: resolver.resolve(index, name), 3.0)
    fresh = uncached_rate(index, names[:4000], 3.0)
    print(f"baseline, plain loop (no-op call):       {loop:>12,.0f} names/s")
    print(f"baseline, dict look-up of exact string:  {lookup:>12,.0f} names/s")
    print(f"resolve, repeated names (memo warm):     {cached:>12,.0f} names/s "
          f"({lookup / cached:.1f}x the dict look-up's time)")  # fmt: skip
    print(f"resolve, every name afresh (memo empty): {fresh:>12,.0f} names/s "
          f"({lookup / fresh:.0f}x the dict look-up's time)")  # fmt: skip
    print(f"resolve, first sight of each name (every memo empty): {first:>8,.0f} names/s")
    print(f"per CPU second: first sight {first_cpu:,.0f} names/s (median of 5 passes), "
          f"afresh {fresh_cpu:,.0f} names/s")  # fmt: skip
    print("target: >= 100,000 names/s")
    cold, base, full = load_time(5)
    print(f"index load in this process (first use): {loaded * 1000:7.1f} ms")
    print(f"index load + reading every row:          {full * 1000:7.1f} ms")
    print(f"cold process, import + load_products():  {cold * 1000:7.1f} ms "
          f"(import alone {base * 1000:.1f} ms: load {1000 * (cold - base):.1f} ms)")  # fmt: skip
    one, five, fifteen = os.getloadavg()
    print(f"machine load (1, 5, 15 min): {one:.2f} {five:.2f} {fifteen:.2f} "
          f"on {os.cpu_count()} CPUs")  # fmt: skip


if __name__ == "__main__":
    main()
