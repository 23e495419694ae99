"""How much faster than pandas DuckDB can be at the steps a screen is made of.

Every measure of ``benzosafe screen`` is built from three kinds of step over the fills:
reading and typing them (a patient key, a day number, the drug as a code), a per-patient
aggregate (the ``patients`` summary), and a per-patient window ordered by day (runs of
supply, early refills). This bench does each of the three on one dispensing table with
the screen's DuckDB engine (``DuckDBEngine``, ``memory_limit`` 6GB, every core, and again
on one thread) and with pandas (one core, integer codes, day numbers from Arrow), checks
that both give the same result, and prints the best of ``--repeat`` wall times and the
ratios. A whole screen's ratio against a same-output pandas baseline comes from these
steps' ratio and from what the rest of the pandas code costs (text ids, Python lists,
merges).
Prints figures only; it asserts no time.

    .venv/bin/python bench/screen_primitives.py /tmp/bench-scale/dispensing-10000000.parquet

Tables come from ``bench/screen_scale.py`` (``--dir`` keeps them).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benzosafe.population.engines import DuckDBEngine

COLUMNS = ["patient_id", "fill_date", "days_supply", "drug"]


def best(repeat: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """The shortest wall time of ``repeat`` runs, and the last run's result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return min(times), result


class Duck:
    """The three steps on the screen's own DuckDB engine (its settings, its reader of the
    input); each returns a check value (a count and a sum)."""

    def __init__(self, table: Path, threads: int | None) -> None:
        self.engine = DuckDBEngine(memory_limit="6GB", threads=threads)
        self.engine.register_file("raw", table, "parquet")

    def read(self) -> tuple[int, int]:
        # The drug as a code, each distinct value resolved once, as the screen resolves its
        # ingredient (pandas: factorize).
        self.engine.create(
            "f",
            """
WITH drugs AS (
  SELECT drug, CAST(row_number() OVER (ORDER BY drug) AS SMALLINT) AS g
  FROM (SELECT DISTINCT drug FROM raw) v
)
SELECT hash(r.patient_id) AS p,
  CAST(date_diff('day', DATE '1970-01-01', r.fill_date) AS INT) AS d, r.days_supply AS s, k.g
FROM raw r JOIN drugs k ON k.drug = r.drug
""",
            materialize=True,
        )
        return self._check("SELECT COUNT(*), SUM(d) FROM f")

    def group(self) -> tuple[int, int]:
        self.engine.create(
            "g",
            "SELECT p, MIN(d) AS lo, MAX(d) AS hi, SUM(s) AS supply FROM f GROUP BY p",
            materialize=True,
        )
        return self._check("SELECT COUNT(*), SUM(hi - lo + supply) FROM g")

    def window(self) -> tuple[int, int]:
        order = "PARTITION BY p, g ORDER BY d, s"
        self.engine.create(
            "w",
            f"""
SELECT LAG(d) OVER ({order}) AS prev_day,
  MAX(d + s) OVER ({order} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_end
FROM f
""",  # noqa: S608  the bench's own table and window, no outside text
            materialize=True,
        )
        return self._check(
            "SELECT COUNT(*), SUM(COALESCE(prev_day, 0) + COALESCE(prev_end, 0)) FROM w"
        )

    def _check(self, query: str) -> tuple[int, int]:
        ((n, total),) = self.engine.fetch(query)
        return int(n), int(total)

    def close(self) -> None:
        self.engine.close()


class Pandas:
    """The same three steps in pandas, on one core."""

    def __init__(self, table: Path) -> None:
        self.table = table
        self.f = pd.DataFrame()

    def read(self) -> tuple[int, int]:
        t = pq.read_table(self.table, columns=COLUMNS)
        self.f = pd.DataFrame(
            {
                "p": pd.factorize(t["patient_id"].to_pandas())[0],
                "d": pc.cast(t["fill_date"], pa.int32()).to_numpy(),
                "s": t["days_supply"].to_numpy(),
                "g": pd.factorize(t["drug"].to_pandas(), sort=True)[0].astype("int16"),
            }
        )
        return len(self.f), int(self.f["d"].sum())

    def group(self) -> tuple[int, int]:
        g = self.f.groupby("p").agg(lo=("d", "min"), hi=("d", "max"), supply=("s", "sum"))
        return len(g), int((g["hi"] - g["lo"] + g["supply"]).sum())

    def window(self) -> tuple[int, int]:
        x = self.f.sort_values(["p", "g", "d", "s"])
        keys = [x["p"], x["g"]]
        prev_day = x.groupby(keys, sort=False)["d"].shift(1)
        ends = (x["d"] + x["s"]).groupby(keys, sort=False).cummax()
        prev_end = ends.groupby(keys, sort=False).shift(1)
        return len(x), int(prev_day.fillna(0).sum() + prev_end.fillna(0).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("table", type=Path, help="a dispensing table in Parquet")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each step (best kept)")
    args = parser.parse_args()

    ducks = [Duck(args.table, None), Duck(args.table, 1)]
    engines: list[Duck | Pandas] = [*ducks, Pandas(args.table)]
    steps = [
        ("read and type the fills", "read"),
        ("per-patient aggregate", "group"),
        ("per-patient window by day", "window"),
    ]
    print(f"{args.table.name}, best of {args.repeat}")
    print(f"{'step':28} {'DuckDB':>9} {'1 thread':>9} {'pandas':>9} {'ratio':>7} {'1 thread':>9}")
    totals = [0.0, 0.0, 0.0]
    for label, method in steps:
        times, checks = [], []
        for i, engine in enumerate(engines):
            seconds, check = best(args.repeat, getattr(engine, method))
            times.append(seconds)
            checks.append(check)
            totals[i] += seconds
        same = "" if len(set(checks)) == 1 else f"  RESULTS DIFFER: {checks}"
        print(
            f"{label:28} {times[0]:8.2f}s {times[1]:8.2f}s {times[2]:8.2f}s "
            f"{times[2] / times[0]:6.1f}x {times[2] / times[1]:8.1f}x{same}"
        )
    print(
        f"{'the three together':28} {totals[0]:8.2f}s {totals[1]:8.2f}s {totals[2]:8.2f}s "
        f"{totals[2] / totals[0]:6.1f}x {totals[2] / totals[1]:8.1f}x"
    )
    for duck in ducks:
        duck.close()


if __name__ == "__main__":
    main()
