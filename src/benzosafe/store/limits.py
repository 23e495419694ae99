"""Field limits, read from the models: the one place where the longest value of a field is set.

A ``String(n)`` column holds at most ``n`` characters, a ``Text`` column the
``info["max_length"]`` given to it in :mod:`benzosafe.store.models`. PostgreSQL refuses a
longer value with an error (a 500 if it got that far) while SQLite keeps it, so no value may
reach either database unchecked: the API's request models and the pages' form fields take
their ``max_length`` from here, the record operations check with :func:`check_text`, and
:func:`refuse_over_long` (a ``before_flush`` hook on every session of
:func:`benzosafe.store.db.session_factory`) refuses any row that still breaks a limit before
it is sent, naming the column. Both databases answer the same :class:`InvalidInput` (422).
Integer columns are 32-bit on PostgreSQL: :data:`INTEGER_MAX` bounds ids and counts in input.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, String, inspect
from sqlalchemy.orm import Session

from benzosafe.errors import InvalidInput
from benzosafe.store.models import Base

#: The largest value of an ``Integer`` column on PostgreSQL (``integer``, 4 bytes).
INTEGER_MAX = 2**31 - 1


def max_length(column: Any) -> int | None:
    """The longest value ``column`` (a model attribute such as ``PatientRow.mrn``, or a
    table column) holds, or None for a column that is not text or has no limit."""
    col: Column[Any] = column.property.columns[0] if hasattr(column, "property") else column
    if isinstance(col.type, String) and col.type.length is not None:
        return int(col.type.length)
    limit = col.info.get("max_length")
    return int(limit) if limit is not None else None


def text_columns() -> dict[str, Column[Any]]:
    """Every text column of the model (``String`` and ``Text``), as ``"table.column"``."""
    return {
        f"{table.name}.{col.name}": col
        for table in Base.metadata.sorted_tables
        for col in table.columns
        if isinstance(col.type, String)
    }


def limits() -> dict[str, int]:
    """The limit of every text column that has one, as ``{"patients.mrn": 32, ...}``: what
    the templates' ``maxlength`` attributes and the tests read."""
    out = {}
    for name, col in text_columns().items():
        limit = max_length(col)
        if limit is not None:
            out[name] = limit
    return out


def check_text(column: Any, value: str, field: str) -> str:
    """``value`` unchanged when ``column`` can hold it, else :class:`InvalidInput` on ``field``
    saying the limit (never the value, which may be a patient's)."""
    limit = max_length(column)
    if limit is not None and len(value) > limit:
        raise InvalidInput(field, f"at most {limit} characters (this is {len(value)})")
    return value


def refuse_over_long(session: Session, _context: Any, _instances: Any) -> None:
    """``before_flush``: refuse a new or changed row with a text value over its column's limit,
    so SQLite refuses what PostgreSQL would, and both with the column named."""
    for row in (*session.new, *session.dirty):
        if not isinstance(row, Base):
            continue
        mapper = inspect(type(row))
        table = type(row).__tablename__
        for attr in mapper.column_attrs:
            col = attr.columns[0]
            value = row.__dict__.get(attr.key)
            if isinstance(value, str):
                check_text(col, value, f"{table}.{col.name}")
