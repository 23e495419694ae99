"""The documented dispensing-record table and writing it to Parquet or CSV.

One row per dispensing (fill): ``fill_id``, ``patient_id``, ``birth_date`` (ISO date) or
``age`` (years at the fill), ``fill_date`` (ISO date), ``drug`` (ingredient or brand name,
RxNorm ingredient code, or a product code from the user's mapping table), ``quantity``
(units dispensed), ``days_supply``, ``strength_mg`` (mg per unit; may come from the
mapping table), ``prescriber_id``, ``pharmacy_id``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from benzosafe.errors import InvalidInput


@dataclass(frozen=True)
class DispensingRecord:
    fill_id: str
    patient_id: str
    birth_date: str | None
    fill_date: str | None
    drug: str
    quantity: float | None
    days_supply: int | None
    strength_mg: float | None
    prescriber_id: str | None
    pharmacy_id: str | None


SCHEMA = pa.schema(
    [
        ("fill_id", pa.string()),
        ("patient_id", pa.string()),
        ("birth_date", pa.string()),
        ("fill_date", pa.string()),
        ("drug", pa.string()),
        ("quantity", pa.float64()),
        ("days_supply", pa.int64()),
        ("strength_mg", pa.float64()),
        ("prescriber_id", pa.string()),
        ("pharmacy_id", pa.string()),
    ]
)


def records_table(records: Iterable[DispensingRecord]) -> pa.Table:
    rows = [astuple(r) for r in records]
    names = [f.name for f in fields(DispensingRecord)]
    return pa.Table.from_arrays(
        [pa.array([r[i] for r in rows], type=SCHEMA.field(n).type) for i, n in enumerate(names)],
        schema=SCHEMA,
    )


def write_records(records: Iterable[DispensingRecord], path: Path) -> None:
    """Write records as Parquet or CSV, chosen by the file's suffix."""
    table = records_table(records)
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        raise InvalidInput("out", f"{path}: unknown suffix", [".parquet", ".csv"])
