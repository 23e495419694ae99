"""The spellings of the screening SQL that differ between DuckDB and Spark SQL, and the text
helpers every query shares.

:class:`Dialect` holds what the two engines spell differently (a date as a day number, a
regular-expression match, a named struct, a 64-bit hash, a sample, the list lambdas);
:data:`DUCKDB` and :data:`SPARK` are the two spellings. :func:`quote` makes every string
literal of the queries (a quote inside is doubled), so no text from a data file or an input
is ever spliced in unquoted; :func:`in_list`, :func:`when` and :func:`days` are the small
pieces of SQL the other modules build with.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Dialect:
    """The spellings that differ between the engines."""

    name: str
    day_number: str  # format with {d}: a DATE to days since 1970-01-01
    regex_match: str  # format with {s} and {p}
    struct_fn: str  # "struct_pack" (fields as name := value) or "named_struct"
    hash_fn: str  # a 64-bit hash of a string
    modulo: str  # format with {x} and {n}: x modulo n, never negative
    sample: str  # format with {n}: a random sample of about n rows of the table before it
    # format with {s}: the sorted list column s without repeats (an element is kept when it
    # differs from the one before it, which costs far less than a hashed array_distinct)
    sorted_unique: str
    key_buckets: int = 0  # > 0: fold patient keys into so many values (tests of collisions)
    # Count many queries by one GROUP BY over their tagged rows, not one COUNT(*) each: Spark
    # plans every global COUNT(*) as its own shuffle stage and job (35 on the 2,000-patient
    # table against 5), where DuckDB counts each table's rows without grouping them.
    tagged_counts: bool = False

    def day(self, expr: str) -> str:
        return self.day_number.format(d=expr)

    def matches(self, expr: str, pattern: str) -> str:
        return self.regex_match.format(s=expr, p=quote(pattern))

    def struct(self, fields: Iterable[tuple[str, str]]) -> str:
        """A struct of (name, expression) fields: it orders by its fields, in order."""
        if self.struct_fn == "struct_pack":
            inner = ", ".join(f"{n} := {e}" for n, e in fields)
        else:
            inner = ", ".join(f"{quote(n)}, {e}" for n, e in fields)
        return f"{self.struct_fn}({inner})"

    def patient_key(self, expr: str) -> str:
        """A patient id (never NULL in the fills) as a 64-bit integer key."""
        key = f"{self.hash_fn}({expr})"
        return self.modulo.format(x=key, n=self.key_buckets) if self.key_buckets else key

    def hash(self, expr: str) -> str:
        """A 64-bit hash of a string column, NULL for NULL (both engines hash NULL to a value)."""
        return f"CASE WHEN {expr} IS NOT NULL THEN {self.hash_fn}({expr}) END"


DUCKDB = Dialect(
    "duckdb",
    "date_diff('day', DATE '1970-01-01', {d})",
    "regexp_matches({s}, {p})",
    "struct_pack",
    "hash",
    "{x} % {n}",  # hash() is unsigned
    "TABLESAMPLE reservoir({n} ROWS) REPEATABLE (1)",
    "list_filter({s}, lambda v, i: i = 1 OR v <> {s}[GREATEST(i - 1, 1)])",  # i from 1
)
SPARK = Dialect(
    "spark",
    "unix_date({d})",
    "regexp_like({s}, {p})",
    "named_struct",
    "xxhash64",
    "pmod({x}, {n})",
    # Spark samples a share, not a number of rows; its screens run in one part (the
    # engine partitions and spills by itself), so the sample only serves forced parts.
    "TABLESAMPLE (10 PERCENT) REPEATABLE (1)",
    "filter({s}, (v, i) -> i = 0 OR v <> {s}[GREATEST(i - 1, 0)])",  # i from 0
    tagged_counts=True,
)


def quote(text: str) -> str:
    """``text`` as a SQL string literal, a quote inside doubled. Spark SQL also reads backslash
    escapes in a literal, so text quoted for Spark comes only from the knowledge data (rule
    ids, reasons, the date pattern, struct field names); input text (patient-id bounds, paths,
    registered rows) is quoted for DuckDB only, Spark being handed it as data."""
    return "'" + text.replace("'", "''") + "'"


def in_list(column: str, values: Iterable[str]) -> str:
    items = [quote(v) for v in values]
    return f"{column} IN ({', '.join(items)})" if items else "1 = 0"


def days(n: int) -> str:
    """A number of days to add to a day number (an INT): as a BIGINT, so that a parameter of
    any size cannot overflow the sum."""
    return f"CAST({n} AS BIGINT)"


def when(cond: str, expr: str) -> str:
    return f"CASE WHEN {cond} THEN {expr} END"
