"""An OMOP CDM v5.4 ``drug_exposure`` table as dispensing records, from a database or files.

The tables come from a database (a SQLAlchemy URL and an optional schema) or from a folder
holding ``drug_exposure`` and ``person`` and, when available, ``concept``,
``drug_strength`` and ``visit_occurrence``, each as ``<table>.csv`` or ``<table>.parquet``.
The mapping to the documented table: ``drug_exposure_id`` → fill id, ``person_id`` →
patient id, ``drug_exposure_start_date`` → fill date, ``quantity``, ``days_supply``,
``provider_id`` → prescriber id. The birth date is ``person``'s year, month and day of
birth; a missing day or month is taken as the last one possible, so the age computed is
never more than the true age. OMOP has no pharmacy column: the pharmacy is the
``care_site_id`` of the exposure's visit when ``visit_occurrence`` is given, else unknown.
The drug is ``drug_source_value`` when the drug map knows it (an NDC in the user's map),
else the ``concept_name`` of ``drug_concept_id``, else ``drug_source_value``; the
strength comes from ``drug_strength`` (amounts whose unit concept is coded mg or ug),
else from "N MG" in the name.
Exposures whose person is not in ``person`` are counted, not screened.

The join is one DuckDB query (:func:`dispensing_sql`) over the files, written as the
documented table to a Parquet file that either engine then screens. A database's tables are
first streamed in chunks into Parquet files (:func:`dump_omop_db`), so both inputs share it.
Values are read as the text they hold, so CSV, Parquet and database columns of any type map
alike: an id is its integer when it is one ("007", 7.0 → "7"), else its trimmed text.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from benzosafe.errors import InvalidInput
from benzosafe.population.records import SCHEMA
from benzosafe.population.sql import quote

Kind = Literal["id", "int", "double", "day", "text"]
# The columns read, and how each is typed before the join.
COLUMNS: dict[str, dict[str, Kind]] = {
    "drug_exposure": {
        "drug_exposure_id": "id",
        "person_id": "id",
        "drug_concept_id": "int",
        "drug_exposure_start_date": "day",
        "quantity": "double",
        "days_supply": "int",
        "provider_id": "id",
        "visit_occurrence_id": "id",
        "drug_source_value": "text",
    },
    "person": {
        "person_id": "id",
        "year_of_birth": "int",
        "month_of_birth": "int",
        "day_of_birth": "int",
    },
    "concept": {"concept_id": "int", "concept_name": "text", "concept_code": "text"},
    "drug_strength": {
        "drug_concept_id": "int",
        "ingredient_concept_id": "int",
        "amount_value": "double",
        "amount_unit_concept_id": "int",
    },
    "visit_occurrence": {"visit_occurrence_id": "id", "care_site_id": "id"},
}
REQUIRED_TABLES = ("drug_exposure", "person")
# A drug_strength unit is read from its concept's UCUM code: no concept id is assumed.
UNIT_CODES = {"mg": "mg", "ug": "mcg", "mcg": "mcg"}
# The texts pyarrow's CSV reader takes for a missing value; "NULL" in an id column is no id.
CSV_NULLS = (
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "N/A", "NA", "NULL", "NaN", "n/a", "nan", "null",
)  # fmt: skip
CHUNK_ROWS = 100_000  # rows fetched from a database at a time
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INTEGER_TYPES = {
    "TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
    "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT",
}  # fmt: skip
_WHITESPACE = quote(" \t\n\r\v\f")
# Python's float() semantics on text: an id, a count, a birth year are integral numbers.
_MACROS = f"""
CREATE OR REPLACE TEMP MACRO omop_text(s) AS NULLIF(trim(s, {_WHITESPACE}), '');
CREATE OR REPLACE TEMP MACRO omop_int(d) AS
  CASE WHEN isfinite(d) AND d = trunc(d) THEN TRY_CAST(d AS BIGINT) END;
CREATE OR REPLACE TEMP MACRO omop_id_of(s, d) AS CASE
  WHEN d IS NULL OR NOT isfinite(d) OR d <> trunc(d) THEN s
  WHEN abs(d) < 9007199254740992 THEN CAST(CAST(d AS BIGINT) AS VARCHAR)
  -- beyond 2^53 a double loses digits: an integer literal is read exactly
  WHEN regexp_full_match(s, '[+-]?[0-9]+') THEN COALESCE(CAST(TRY_CAST(s AS HUGEINT) AS VARCHAR), s)
  ELSE COALESCE(CAST(TRY_CAST(d AS HUGEINT) AS VARCHAR), s) END;
CREATE OR REPLACE TEMP MACRO omop_id(s) AS omop_id_of(s, TRY_CAST(s AS DOUBLE));
-- mg from "N" and its unit; "N" || 'e-3' is the exact decimal shift of a microgram amount
CREATE OR REPLACE TEMP MACRO omop_mg(num, unit) AS CASE lower(unit)
  WHEN 'mg' THEN TRY_CAST(num AS DOUBLE)
  WHEN 'mcg' THEN TRY_CAST(num || 'e-3' AS DOUBLE) END;
-- the first "N MG" / "N MCG" of a name as (n, u)
CREATE OR REPLACE TEMP MACRO omop_mg_text(name) AS
  regexp_extract(name, '([0-9]+(?:\\.[0-9]+)?)\\s*(MG|MCG)\\b', ['n', 'u'], 'i');
-- none when it is zero or over 10 g: a typo, as units.parse_mass refuses it
CREATE OR REPLACE TEMP MACRO omop_plausible_mg(mg) AS CASE WHEN mg > 0 AND mg <= 10000 THEN mg END;
"""


def _expr(kind: Kind, column: str | None, sql_type: str) -> str:
    """The SQL typing ``column`` (of DuckDB type ``sql_type``) as ``kind``; NULL when absent."""
    if column is None:
        return {"int": "NULL::BIGINT", "double": "NULL::DOUBLE"}.get(kind, "NULL::VARCHAR")
    col = '"' + column.replace('"', '""') + '"'
    t = sql_type.upper()
    integral = t in _INTEGER_TYPES
    numeric = integral or t in ("FLOAT", "DOUBLE", "REAL") or t.startswith("DECIMAL")
    text = f"omop_text(CAST({col} AS VARCHAR))"
    number = (
        f"CAST({col} AS DOUBLE)"
        if numeric
        else "NULL::DOUBLE"
        if t == "BOOLEAN"
        else f"TRY_CAST({text} AS DOUBLE)"
    )
    if kind == "id":
        return f"CAST({col} AS VARCHAR)" if integral else f"omop_id({text})"
    if kind == "int":
        return f"TRY_CAST({col} AS BIGINT)" if integral else f"omop_int({number})"
    if kind == "double":
        return number
    if kind == "day":
        if t == "DATE":
            return f"CAST({col} AS VARCHAR)"
        if t.startswith("TIMESTAMP"):
            return f"CAST(CAST({col} AS DATE) AS VARCHAR)"
        return f"left({text}, 10)"
    return f"COALESCE({text}, '')"


def dispensing_sql() -> str:
    """The documented table from the typed ``omop_*`` tables: the one OMOP join."""
    units = ", ".join(f"({quote(code)}, {quote(unit)})" for code, unit in UNIT_CODES.items())
    return f"""
WITH persons AS (
  SELECT person_id, arg_max_null(birth_date, rowid) AS birth_date
  FROM omop_person WHERE person_id IS NOT NULL GROUP BY person_id
), concepts AS (
  SELECT concept_id, arg_max_null(concept_name, rowid) AS concept_name,
    arg_max_null(concept_code, rowid) AS concept_code
  FROM omop_concept WHERE concept_id IS NOT NULL AND concept_id <> 0 GROUP BY concept_id
), visits AS (
  SELECT visit_occurrence_id, arg_max_null(care_site_id, rowid) AS care_site_id
  FROM omop_visit_occurrence WHERE visit_occurrence_id IS NOT NULL GROUP BY visit_occurrence_id
), amounts AS (
  -- mg per unit of a drug concept, with its ingredient's name as a drug key
  SELECT s.drug_concept_id,
    CASE u.unit WHEN 'mg' THEN s.amount_value
      ELSE COALESCE(omop_mg(CAST(s.amount_value AS VARCHAR), 'mcg'), s.amount_value / 1000)
    END AS mg,
    k.drug_key IS NOT NULL AS known
  FROM omop_drug_strength s
  JOIN concepts uc ON uc.concept_id = s.amount_unit_concept_id
  JOIN (VALUES {units}) u(code, unit) ON u.code = lower(uc.concept_code)
  LEFT JOIN concepts ic ON ic.concept_id = s.ingredient_concept_id
  LEFT JOIN omop_known k ON k.drug_key = replace(lower(COALESCE(ic.concept_name, '')), '-', '')
  WHERE s.drug_concept_id IS NOT NULL AND s.amount_value IS NOT NULL
), strengths AS (
  -- a drug's one amount, or of several the one whose ingredient the drug map knows
  SELECT drug_concept_id,
    CASE WHEN count(*) = 1 THEN any_value(mg)
      WHEN count(*) FILTER (WHERE known) = 1 THEN any_value(mg) FILTER (WHERE known) END AS mg
  FROM amounts GROUP BY drug_concept_id
), exposures AS (
  SELECT e.*, COALESCE(c.concept_name, '') AS concept_name,
    k.drug_key IS NOT NULL AS source_known, s.mg
  FROM omop_drug_exposure e
  LEFT JOIN concepts c ON c.concept_id = e.drug_concept_id
  LEFT JOIN strengths s ON s.drug_concept_id = COALESCE(e.drug_concept_id, 0)
  LEFT JOIN omop_known k ON k.drug_key = replace(lower(e.drug_source_value), '-', '')
), named AS (
  -- without drug_strength, the strength stated in the concept name, else the source value
  SELECT *, CASE WHEN mg IS NULL THEN omop_mg_text(
      CASE WHEN concept_name <> '' THEN concept_name ELSE drug_source_value END
    ) END AS stated
  FROM exposures
)
SELECT COALESCE(e.drug_exposure_id, '') AS fill_id,
  COALESCE(e.person_id, '') AS patient_id,
  p.birth_date,
  e.drug_exposure_start_date AS fill_date,
  CASE WHEN e.drug_source_value <> '' AND e.source_known THEN e.drug_source_value
    WHEN e.concept_name <> '' THEN e.concept_name ELSE e.drug_source_value END AS drug,
  e.quantity,
  e.days_supply,
  COALESCE(e.mg, omop_plausible_mg(omop_mg(e.stated.n, e.stated.u))) AS strength_mg,
  e.provider_id AS prescriber_id,
  v.care_site_id AS pharmacy_id
FROM named e
LEFT JOIN persons p ON p.person_id = e.person_id
LEFT JOIN visits v ON v.visit_occurrence_id = e.visit_occurrence_id
WHERE e.person_id IS NULL OR p.person_id IS NOT NULL
"""


def _birth_date_sql() -> str:
    """ISO birth date of ``year``, ``month``, ``day``; an unknown month or day is the last
    possible, so age is not overstated. NULL without a year; an impossible date stays as
    text for the checks to count as ``bad_birth_date``."""
    leap = "((year % 4 = 0 AND year % 100 <> 0) OR year % 400 = 0)"
    last = (
        f"CASE WHEN month = 2 THEN CASE WHEN {leap} THEN 29 ELSE 28 END "
        "WHEN month IN (4, 6, 9, 11) THEN 30 ELSE 31 END"
    )
    return f"""CASE WHEN year IS NULL THEN NULL
  WHEN month IS NULL THEN printf('%04d-12-31', year)
  WHEN day IS NULL AND month BETWEEN 1 AND 12 THEN printf('%04d-%02d-%02d', year, month, {last})
  WHEN day IS NULL THEN printf('%04d-%02d-01', year, month)
  ELSE printf('%04d-%02d-%02d', year, month, day) END"""


def table_files(folder: Path) -> dict[str, Path]:
    """The OMOP tables of a folder: ``<table>.parquet``, else ``<table>.csv``."""
    if not folder.is_dir():
        raise InvalidInput("omop-dir", f"{folder} is not a folder")
    found: dict[str, Path] = {}
    for name in COLUMNS:
        for suffix in (".parquet", ".csv"):
            if (folder / f"{name}{suffix}").exists():
                found[name] = folder / f"{name}{suffix}"
                break
    _require(found, str(folder))
    return found


def _require(tables: Iterable[str], where: str) -> None:
    missing = [t for t in REQUIRED_TABLES if t not in set(tables)]
    if missing:
        raise InvalidInput("omop tables", f"{where} lacks {', '.join(missing)}", list(COLUMNS))


def _reader(path: Path) -> str:
    if path.suffix == ".parquet":
        return f"read_parquet({quote(str(path))})"
    nulls = ", ".join(quote(n) for n in CSV_NULLS)
    return (
        f"read_csv({quote(str(path))}, header = true, delim = ',', quote = '\"', "
        f"escape = '\"', all_varchar = true, nullstr = [{nulls}])"
    )


def _typed_table(con: Any, name: str, path: Path | None, field: str) -> None:
    """``omop_<name>``: the columns of the mapping, typed; a table keeps file order as rowid."""
    import duckdb

    present: dict[str, tuple[str, str]] = {}
    source = "(SELECT 1) WHERE false"  # an absent table: no rows
    if path is not None:
        source = _reader(path)
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        except duckdb.Error as exc:
            raise InvalidInput(field, f"cannot read {path.name}: {_first_line(exc)}") from None
        present = {str(c).lower(): (str(c), str(t)) for c, t, *_ in described}
    typed = ", ".join(
        f"{_expr(kind, *present.get(col, (None, '')))} AS {col}"
        for col, kind in COLUMNS[name].items()
    )
    query = f"SELECT {typed} FROM {source}"
    if name == "person":
        query = (
            f"SELECT person_id, {_birth_date_sql()} AS birth_date FROM (SELECT person_id, "
            f"year_of_birth AS year, month_of_birth AS month, day_of_birth AS day FROM ({query}))"
        )
    # drug_exposure is read once, by the join; the look-up tables are made once, in order
    kind = "VIEW" if name == "drug_exposure" else "TABLE"
    con.execute(f"CREATE TEMP {kind} omop_{name} AS {query}")


def _first_line(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[0] if str(exc) else ''}"


def convert_omop_dir(
    folder: Path, out: Path, known: Iterable[str], memory_limit: str | None = None
) -> dict[str, int]:
    """Write the documented table of an OMOP folder to ``out`` (Parquet); skipped by reason."""
    return _convert(table_files(folder), out, known, memory_limit, "omop-dir", str(folder))


def _convert(
    files: dict[str, Path],
    out: Path,
    known: Iterable[str],
    memory_limit: str | None,
    field: str,
    where: str,
) -> dict[str, int]:
    import duckdb

    con = duckdb.connect()
    try:
        with tempfile.TemporaryDirectory(prefix="benzosafe-omop-") as scratch:
            if memory_limit:
                try:
                    con.execute(f"SET memory_limit = {quote(memory_limit)}")
                except duckdb.Error as exc:
                    raise InvalidInput("memory-limit", _first_line(exc)) from None
                con.execute(f"SET temp_directory = {quote(scratch)}")
            con.execute(_MACROS)
            keys = pa.table({"drug_key": pa.array(sorted(set(known)), pa.string())})
            con.register("omop_known_arrow", keys)
            con.execute("CREATE TEMP TABLE omop_known AS SELECT * FROM omop_known_arrow")
            try:
                for name in COLUMNS:
                    _typed_table(con, name, files.get(name), field)
                total = int(con.execute("SELECT COUNT(*) FROM omop_drug_exposure").fetchall()[0][0])
                # the output's row order is of no use; letting it go saves time and memory
                con.execute("SET preserve_insertion_order = false")
                names = ", ".join(f.name for f in SCHEMA)
                query = f"SELECT {names} FROM ({dispensing_sql()})"
                written = con.execute(
                    f"COPY ({query}) TO {quote(str(out))} (FORMAT parquet)"
                ).fetchall()[0][0]
            except duckdb.Error as exc:
                out.unlink(missing_ok=True)
                raise InvalidInput(
                    field, f"cannot read the OMOP tables of {where}: {_first_line(exc)}"
                ) from None
    finally:
        con.close()
    missing = total - int(written)
    return {"omop_person_not_found": missing} if missing else {}


def _text_array(values: Sequence[Any]) -> pa.Array:
    """A column of a database chunk as text, read like a CSV column."""
    try:
        array = pa.array(values)
        return array.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def dump_omop_db(url: str, schema: str | None, folder: Path, chunk_rows: int = CHUNK_ROWS) -> None:
    """Stream the OMOP tables of a database (only the columns the mapping uses) into
    ``folder`` as ``<table>.parquet`` text columns, ``chunk_rows`` rows at a time."""
    import pyarrow.parquet as pq
    import sqlalchemy as sa

    if schema is not None and not _IDENTIFIER.match(schema):
        raise InvalidInput("omop-schema", f"{schema!r} is not a plain identifier")
    if url.startswith("postgresql://"):  # psycopg 3 is the driver installed with benzosafe
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        engine = sa.create_engine(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError or a driver ImportError
        raise InvalidInput("omop", f"not a usable database URL: {exc}") from None
    written: list[str] = []
    try:
        with engine.connect() as conn:
            present = {n.lower(): n for n in sa.inspect(conn).get_table_names(schema=schema)}
            for name, wanted in COLUMNS.items():
                if name not in present:
                    continue
                table = sa.Table(present[name], sa.MetaData(), schema=schema, autoload_with=conn)
                have = {c.name.lower(): c for c in table.columns}
                names = [c for c in wanted if c in have]
                pa_schema = pa.schema([(c, pa.string()) for c in names])
                # numbers come as the database's text: no Python object per value (dates do
                # not, their text follows the server's DateStyle)
                selected = [
                    sa.cast(have[c], sa.String)
                    if isinstance(have[c].type, (sa.Integer, sa.Numeric))
                    else have[c]
                    for c in names
                ]
                result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(
                    sa.select(*[col.label(c) for col, c in zip(selected, names, strict=True)])
                )
                with pq.ParquetWriter(folder / f"{name}.parquet", pa_schema) as writer:
                    for rows in result.partitions():
                        columns = list(zip(*rows, strict=True))
                        arrays = [_text_array(col) for col in columns]
                        writer.write_table(pa.Table.from_arrays(arrays, schema=pa_schema))
                written.append(name)
    except sa.exc.SQLAlchemyError as exc:
        raise InvalidInput(
            "omop",
            f"cannot read the OMOP tables: {exc.__class__.__name__}: {str(exc).splitlines()[0]}",
        ) from None
    finally:
        engine.dispose()
    _require(written, f"schema {schema}" if schema else "the database")


def convert_omop_db(
    url: str, schema: str | None, out: Path, known: Iterable[str], memory_limit: str | None = None
) -> dict[str, int]:
    """Write the documented table of an OMOP database to ``out`` (Parquet); skipped by reason."""
    where = f"schema {schema}" if schema else "the database"
    with tempfile.TemporaryDirectory(prefix="benzosafe-omop-", dir=out.parent) as tmp:
        dump_omop_db(url, schema, Path(tmp))
        files = {name: Path(tmp) / f"{name}.parquet" for name in COLUMNS}
        present = {name: path for name, path in files.items() if path.exists()}
        return _convert(present, out, known, memory_limit, "omop", where)
