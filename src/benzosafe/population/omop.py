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
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from benzosafe.errors import InvalidInput
from benzosafe.population.drugs import normalise_key
from benzosafe.population.fhir import strength_in_text
from benzosafe.population.records import DispensingRecord

Row = dict[str, Any]
COLUMNS: dict[str, tuple[str, ...]] = {
    "drug_exposure": (
        "drug_exposure_id",
        "person_id",
        "drug_concept_id",
        "drug_exposure_start_date",
        "quantity",
        "days_supply",
        "provider_id",
        "visit_occurrence_id",
        "drug_source_value",
    ),
    "person": ("person_id", "year_of_birth", "month_of_birth", "day_of_birth"),
    "concept": ("concept_id", "concept_name", "concept_code"),
    "drug_strength": (
        "drug_concept_id",
        "ingredient_concept_id",
        "amount_value",
        "amount_unit_concept_id",
    ),
    "visit_occurrence": ("visit_occurrence_id", "care_site_id"),
}
REQUIRED_TABLES = ("drug_exposure", "person")
# A drug_strength unit is read from its concept's UCUM code: no concept id is assumed.
UNIT_CODES = {"mg": "mg", "ug": "mcg", "mcg": "mcg"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def read_omop_dir(folder: Path) -> dict[str, list[Row]]:
    """The OMOP tables of a folder of ``<table>.csv`` / ``<table>.parquet`` files."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if not folder.is_dir():
        raise InvalidInput("omop-dir", f"{folder} is not a folder")
    tables: dict[str, list[Row]] = {}
    for name, columns in COLUMNS.items():
        for suffix in (".parquet", ".csv"):
            path = folder / f"{name}{suffix}"
            if not path.exists():
                continue
            try:
                table = pq.read_table(path) if suffix == ".parquet" else pacsv.read_csv(path)
            except Exception as exc:  # pyarrow raises its own types for unreadable files
                raise InvalidInput("omop-dir", f"cannot read {path}: {exc}") from None
            tables[name] = table.select([c for c in columns if c in table.column_names]).to_pylist()
            break
    _require(tables, str(folder))
    return tables


def read_omop_db(url: str, schema: str | None) -> dict[str, list[Row]]:
    """The OMOP tables of a database: only the columns the mapping uses."""
    import sqlalchemy as sa

    if schema is not None and not _IDENTIFIER.match(schema):
        raise InvalidInput("omop-schema", f"{schema!r} is not a plain identifier")
    if url.startswith("postgresql://"):  # psycopg 3 is the driver installed with benzosafe
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    try:
        engine = sa.create_engine(url)
    except Exception as exc:  # SQLAlchemy raises ArgumentError or a driver ImportError
        raise InvalidInput("omop", f"not a usable database URL: {exc}") from None
    tables: dict[str, list[Row]] = {}
    try:
        with engine.connect() as conn:
            present = {n.lower(): n for n in sa.inspect(conn).get_table_names(schema=schema)}
            for name, wanted in COLUMNS.items():
                if name not in present:
                    continue
                table = sa.Table(present[name], sa.MetaData(), schema=schema, autoload_with=conn)
                have = {c.name.lower(): c for c in table.columns}
                cols = [have[c].label(c) for c in wanted if c in have]
                result = conn.execute(sa.select(*cols))
                tables[name] = [dict(r._mapping) for r in result]
    except sa.exc.SQLAlchemyError as exc:
        raise InvalidInput(
            "omop",
            f"cannot read the OMOP tables: {exc.__class__.__name__}: {str(exc).splitlines()[0]}",
        ) from None
    finally:
        engine.dispose()
    _require(tables, f"schema {schema}" if schema else "the database")
    return tables


def _require(tables: dict[str, list[Row]], where: str) -> None:
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise InvalidInput("omop tables", f"{where} lacks {', '.join(missing)}", list(COLUMNS))


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if number.is_integer() else None


def _float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _id(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = _int(value)
    return str(number) if number is not None else str(value).strip()


def _day(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()[:10] or None


def birth_date(year: Any, month: Any, day: Any) -> str | None:
    """The ISO birth date; an unknown month or day is the last possible, so age is not overstated.

    Returns None without a year, and an impossible date as text for the checks to reject.
    """
    y, m, d = _int(year), _int(month), _int(day)
    if y is None:
        return None
    if m is None:
        return f"{y:04d}-12-31"
    if d is None:
        if not 1 <= m <= 12:
            return f"{y:04d}-{m:02d}-01"
        following = date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)
        return date.fromordinal(following.toordinal() - 1).isoformat()
    return f"{y:04d}-{m:02d}-{d:02d}"


def _unit(unit_id: Any, concepts: dict[int, Row]) -> str | None:
    uid = _int(unit_id)
    if uid is None:
        return None
    code = str((concepts.get(uid) or {}).get("concept_code") or "").strip().lower()
    return UNIT_CODES.get(code)


def _strengths(
    rows: Iterable[Row], concepts: dict[int, Row], known: set[str]
) -> dict[int, Decimal]:
    """mg per unit by drug concept: its one ingredient, or the one the drug map knows."""
    by_drug: dict[int, list[tuple[str, Decimal]]] = {}
    for row in rows:
        drug, amount = _int(row.get("drug_concept_id")), _float(row.get("amount_value"))
        unit = _unit(row.get("amount_unit_concept_id"), concepts)
        if drug is None or amount is None or unit is None:
            continue
        mg = Decimal(str(amount)) / (1000 if unit == "mcg" else 1)
        ingredient = _int(row.get("ingredient_concept_id"))
        name = str((concepts.get(ingredient or -1) or {}).get("concept_name") or "")
        by_drug.setdefault(drug, []).append((normalise_key(name), mg))
    out: dict[int, Decimal] = {}
    for drug, items in by_drug.items():
        chosen = [mg for key, mg in items if key in known] if len(items) > 1 else []
        if len(items) == 1 or len(chosen) == 1:
            out[drug] = items[0][1] if len(items) == 1 else chosen[0]
    return out


def omop_records(
    tables: dict[str, list[Row]], known_drugs: set[str]
) -> tuple[list[DispensingRecord], dict[str, int]]:
    """Dispensing records from OMOP tables, and the exposures skipped by reason."""
    concepts = {
        cid: row for row in tables.get("concept", []) if (cid := _int(row.get("concept_id")))
    }
    strengths = _strengths(tables.get("drug_strength", []), concepts, known_drugs)
    births = {
        _id(p.get("person_id")): birth_date(
            p.get("year_of_birth"), p.get("month_of_birth"), p.get("day_of_birth")
        )
        for p in tables["person"]
    }
    sites = {
        _id(v.get("visit_occurrence_id")): _id(v.get("care_site_id"))
        for v in tables.get("visit_occurrence", [])
    }
    skipped: dict[str, int] = {}
    records = []
    for row in tables["drug_exposure"]:
        person = _id(row.get("person_id"))
        if person is not None and person not in births:
            skipped["omop_person_not_found"] = skipped.get("omop_person_not_found", 0) + 1
            continue
        concept_id = _int(row.get("drug_concept_id"))
        name = str((concepts.get(concept_id or 0) or {}).get("concept_name") or "").strip()
        source = str(row.get("drug_source_value") or "").strip()
        drug = source if source and normalise_key(source) in known_drugs else name or source
        strength = strengths.get(concept_id or 0)
        if strength is None:
            strength = strength_in_text(name) if name else strength_in_text(source)
        visit = _id(row.get("visit_occurrence_id"))
        records.append(
            DispensingRecord(
                fill_id=_id(row.get("drug_exposure_id")) or "",
                patient_id=person or "",
                birth_date=births.get(person),
                fill_date=_day(row.get("drug_exposure_start_date")),
                drug=drug,
                quantity=_float(row.get("quantity")),
                days_supply=_int(row.get("days_supply")),
                strength_mg=float(strength) if strength is not None else None,
                prescriber_id=_id(row.get("provider_id")),
                pharmacy_id=sites.get(visit) if visit is not None else None,
            )
        )
    return records, skipped
