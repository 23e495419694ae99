"""Screening an OMOP folder: how long ``benzosafe screen --omop-dir`` takes, and its memory.

Generates a synthetic population with ``benzosafe synth dispensing``, writes it as OMOP
``drug_exposure``, ``person``, ``concept`` and ``visit_occurrence`` Parquet files, then
screens the documented Parquet and the OMOP folder each in a child process and prints the
wall time and peak resident memory of both. Prints figures only; it asserts no time.

    .venv/bin/python bench/omop_read.py --patients 40000
    .venv/bin/python bench/omop_read.py --patients 4000 --engine spark

With ``--engine spark`` both screens run on Spark (``--out`` is then a Parquet directory);
the OMOP join itself is DuckDB's either way, writing the documented table that Spark reads.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def to_omop(records: Path, folder: Path) -> int:
    """The documented table as OMOP tables; ids are renumbered as integers."""
    table = pq.read_table(records)
    folder.mkdir()
    n: int = table.num_rows

    def numbers(column: str) -> pa.Array:
        return pc.index_in(table[column], value_set=pc.unique(table[column]))

    strength = pc.cast(table["strength_mg"], pa.string())
    names = pc.binary_join_element_wise(table["drug"], strength, "MG Oral Tablet", " ")
    products = pc.unique(names)
    concept_ids = pc.add(pc.index_in(names, value_set=products), 1_000_000)
    visits = pa.array(range(1, n + 1))
    pq.write_table(
        pa.table(
            {
                "drug_exposure_id": visits,
                "person_id": numbers("patient_id"),
                "drug_concept_id": concept_ids,
                "drug_exposure_start_date": table["fill_date"],
                "quantity": table["quantity"],
                "days_supply": table["days_supply"],
                "provider_id": numbers("prescriber_id"),
                "visit_occurrence_id": visits,
                "drug_source_value": table["drug"],
            }
        ),
        folder / "drug_exposure.parquet",
    )
    pq.write_table(
        pa.table({"visit_occurrence_id": visits, "care_site_id": numbers("pharmacy_id")}),
        folder / "visit_occurrence.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "concept_id": pa.array(range(1_000_000, 1_000_000 + len(products))),
                "concept_name": products,
                "concept_code": products,
            }
        ),
        folder / "concept.parquet",
    )
    # One birth date a person: the synthetic malformed rows carry a placeholder 1970-01-01.
    placeholder = pc.equal(table["birth_date"], "1970-01-01")
    real = pc.if_else(placeholder, pa.scalar(None, pa.string()), table["birth_date"])
    people = table.set_column(2, "birth_date", real).group_by("patient_id")
    people = people.aggregate([("birth_date", "min")])
    births = pc.fill_null(people["birth_date_min"], "1970-01-01")
    pq.write_table(
        pa.table(
            {
                "person_id": pc.index_in(
                    people["patient_id"], value_set=pc.unique(table["patient_id"])
                ),
                "year_of_birth": pc.cast(pc.utf8_slice_codeunits(births, 0, 4), pa.int64()),
                "month_of_birth": pc.cast(pc.utf8_slice_codeunits(births, 5, 7), pa.int64()),
                "day_of_birth": pc.cast(pc.utf8_slice_codeunits(births, 8, 10), pa.int64()),
            }
        ),
        folder / "person.parquet",
    )
    return n


def timed(*args: str) -> tuple[float, float]:
    """Wall seconds and peak RSS (GB) of one ``benzosafe`` run in a child process."""
    started = time.perf_counter()
    code = "from benzosafe.cli import main; main()"
    subprocess.run([sys.executable, "-c", code, *args], check=True, capture_output=True)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return time.perf_counter() - started, peak_kb / 1024 / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=40000)
    parser.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb")
    args = parser.parse_args()
    patients, engine = args.patients, ("--engine", args.engine)
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"engine {args.engine}; load average {load}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = root / "d.parquet"
        code = "from benzosafe.cli import main; main()"
        subprocess.run(
            [
                sys.executable,
                "-c",
                code,
                "synth",
                "dispensing",
                "--patients",
                str(patients),
                "--out",
                str(data),
            ],
            check=True,
            capture_output=True,
        )
        rows = to_omop(data, root / "omop")
        seconds, peak = timed("screen", str(data), "--out", str(root / "a.parquet"), *engine)
        # with Spark the JVM is the driver's child, counted here only if the driver waits for
        # it (screen_scale.py --engines spark reads the JVM's own peak)
        of = " (the Python driver's; the JVM's need not count)" if args.engine == "spark" else ""
        print(f"documented parquet: {rows} rows, {seconds:.1f} s, peak RSS {peak:.2f} GB{of}")
        seconds, peak = timed(
            "screen", "--omop-dir", str(root / "omop"), "--out", str(root / "b.parquet"), *engine
        )
        print(
            f"OMOP folder:        {rows} rows, {seconds:.1f} s, peak RSS so far {peak:.2f} GB{of}"
        )
        counts = [
            sorted(
                pq.read_table(root / f).group_by("rule").aggregate([("rule", "count")]).to_pylist(),
                key=str,
            )
            for f in ("a.parquet", "b.parquet")
        ]
        print(
            "flags per rule equal:",
            counts[0] == counts[1],
            "load average",
            ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        )
        if counts[0] != counts[1]:
            print(counts)


if __name__ == "__main__":
    main()
