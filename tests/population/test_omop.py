"""OMOP CDM input: the rule cases as OMOP tables, in PostgreSQL and in a folder, screen alike.

The OMOP data is made here from the rule cases of ``screening.toml`` (never real data): one
person per case patient, one drug exposure per fill, one visit per fill whose care site is
the pharmacy, a concept per product whose name states the strength, and ``drug_strength``
rows for half of them. The same fills written as the documented CSV must give the same flags.
"""

from __future__ import annotations

import csv
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benzosafe.errors import InvalidInput
from benzosafe.knowledge import load
from benzosafe.population.omop import convert_omop_db, convert_omop_dir, dump_omop_db
from benzosafe.population.records import DispensingRecord, write_records

from .conftest import case_records, run_cli

MG = 8576  # the OMOP concept of the unit milligram
Tables = dict[str, list[dict[str, Any]]]


def _numbering(values: list[str], start: int) -> dict[str, int]:
    return {v: start + i for i, v in enumerate(dict.fromkeys(values))}


def omop_cases() -> tuple[Tables, list[DispensingRecord], list[tuple[str, str]]]:
    """The rule cases as OMOP tables, the same fills as documented records, the exclusions."""
    records, exclusions = case_records()
    persons = _numbering([r.patient_id for r in records], 1)
    providers = _numbering([r.prescriber_id or "" for r in records], 100)
    sites = _numbering([r.pharmacy_id or "" for r in records], 500)
    products = _numbering([f"{r.drug} {r.strength_mg:g} MG Oral Tablet" for r in records], 9000)
    ingredients = _numbering([r.drug.lower() for r in records], 1000)
    births = {r.patient_id: r.birth_date for r in records}
    tables: Tables = {
        "person": [
            {
                "person_id": pid,
                "year_of_birth": int(str(births[p])[:4]),
                "month_of_birth": int(str(births[p])[5:7]),
                "day_of_birth": int(str(births[p])[8:10]),
            }
            for p, pid in persons.items()
        ],
        "concept": [
            {"concept_id": cid, "concept_name": name, "concept_code": str(cid)}
            for name, cid in {**products, **ingredients}.items()
        ]
        + [{"concept_id": MG, "concept_name": "milligram", "concept_code": "mg"}],
        "drug_strength": [
            {
                "drug_concept_id": cid,
                "ingredient_concept_id": ingredients[name.split(" ")[0].lower()],
                "amount_value": float(name.split(" ")[1]),
                "amount_unit_concept_id": MG,
            }
            for name, cid in products.items()
            if cid % 2 == 0  # the others are read from the concept name
        ],
        "drug_exposure": [],
        "visit_occurrence": [],
    }
    expected = []
    for n, r in enumerate(records, start=1):
        product = f"{r.drug} {r.strength_mg:g} MG Oral Tablet"
        tables["drug_exposure"].append(
            {
                "drug_exposure_id": n,
                "person_id": persons[r.patient_id],
                "drug_concept_id": products[product],
                "drug_exposure_start_date": r.fill_date,
                "quantity": r.quantity,
                "days_supply": r.days_supply,
                "provider_id": providers[r.prescriber_id or ""],
                "visit_occurrence_id": 70000 + n,
                "drug_source_value": f"NDC-NOT-MAPPED-{n % 7}",
            }
        )
        tables["visit_occurrence"].append(
            {"visit_occurrence_id": 70000 + n, "care_site_id": sites[r.pharmacy_id or ""]}
        )
        expected.append(
            DispensingRecord(
                fill_id=str(n),
                patient_id=str(persons[r.patient_id]),
                birth_date=r.birth_date,
                fill_date=r.fill_date,
                drug=r.drug,
                quantity=r.quantity,
                days_supply=r.days_supply,
                strength_mg=r.strength_mg,
                prescriber_id=str(providers[r.prescriber_id or ""]),
                pharmacy_id=str(sites[r.pharmacy_id or ""]),
            )
        )
    renumbered = [(str(persons[p]), reason) for p, reason in exclusions]
    return tables, expected, renumbered


def write_csv_tables(tables: Tables, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def write_parquet_tables(tables: Tables, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows in tables.items():
        pq.write_table(pa.Table.from_pylist(rows), folder / f"{name}.parquet")


def converted(
    folder: Path, known: set[str], tables: Tables | None = None, fmt: str = "csv"
) -> tuple[list[DispensingRecord], dict[str, int]]:
    """The documented table ``benzosafe screen`` makes of an OMOP folder, sorted by fill id."""
    if tables is not None:
        (write_csv_tables if fmt == "csv" else write_parquet_tables)(tables, folder)
    out = folder.parent / f"{folder.name}-documented.parquet"
    skipped = convert_omop_dir(folder, out, known)
    rows = pq.read_table(out).to_pylist()
    return sorted((DispensingRecord(**r) for r in rows), key=lambda r: r.fill_id), skipped


@pytest.fixture(scope="module")
def omop_data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tables, expected, exclusions = omop_cases()
    root = tmp_path_factory.mktemp("omop")
    write_csv_tables(tables, root / "omop")
    write_records(expected, root / "documented.csv")
    with (root / "exclusions.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([("patient_id", "reason"), *exclusions])
    return {"root": root, "tables": tables}


def screen_flags(root: Path, name: str, *source: str) -> list[dict[str, Any]]:
    out, summary = root / f"{name}.parquet", root / f"{name}.json"
    args = ["screen", *source, "--exclusions", str(root / "exclusions.csv")]
    done = run_cli(*args, "--out", str(out), "--json", str(summary))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    rows = pq.read_table(out).to_pylist()
    assert rows, "the rule cases flag some patients"
    return sorted(rows, key=lambda r: (r["patient_id"], r["rule"]))


@pytest.fixture(scope="module")
def documented_flags(omop_data: dict[str, Any]) -> list[dict[str, Any]]:
    root = omop_data["root"]
    return screen_flags(root, "documented", str(root / "documented.csv"))


@pytest.fixture(scope="module")
def pg_schema(omop_data: dict[str, Any], postgres_schema: str, postgres_base: str) -> str:
    """The OMOP tables in a PostgreSQL schema of their own (dropped by ``postgres_schema``)."""
    from sqlalchemy import create_engine, text

    schema = postgres_schema
    types = {  # the OMOP CDM v5.4 PostgreSQL types of the columns used
        "person": "person_id integer, year_of_birth integer, month_of_birth integer, "
        "day_of_birth integer",
        "concept": "concept_id integer, concept_name varchar(255), concept_code varchar(50)",
        "drug_strength": "drug_concept_id integer, ingredient_concept_id integer, "
        "amount_value numeric, amount_unit_concept_id integer",
        "drug_exposure": "drug_exposure_id integer, person_id integer, drug_concept_id integer, "
        "drug_exposure_start_date date, quantity numeric, days_supply integer, "
        "provider_id integer, visit_occurrence_id integer, drug_source_value varchar(50)",
        "visit_occurrence": "visit_occurrence_id integer, care_site_id integer",
    }
    engine = create_engine(postgres_base)
    with engine.begin() as conn:
        for name, rows in omop_data["tables"].items():
            conn.execute(text(f"CREATE TABLE {schema}.{name} ({types[name]})"))
            cols = list(rows[0])
            marks = ", ".join(f":{c}" for c in cols)
            # the test's own schema, tables and columns; the values are bound parameters
            insert = f"INSERT INTO {schema}.{name} ({', '.join(cols)}) VALUES ({marks})"  # noqa: S608
            if name == "drug_exposure":
                insert = insert.replace(
                    ":drug_exposure_start_date", "CAST(:drug_exposure_start_date AS date)"
                )
            conn.execute(text(insert), rows)
    engine.dispose()
    return schema


def test_an_omop_folder_of_csv_screens_like_the_documented_csv(
    omop_data: dict[str, Any], documented_flags: list[dict[str, Any]]
) -> None:
    root = omop_data["root"]
    flags = screen_flags(root, "omop-dir", "--omop-dir", str(root / "omop"))
    assert flags == documented_flags
    summary = json.loads((root / "omop-dir.json").read_text())
    assert summary["malformed"] == {}
    assert summary["rows_read"] == len(omop_data["tables"]["drug_exposure"])


def test_an_omop_database_screens_like_the_documented_csv(
    omop_data: dict[str, Any],
    documented_flags: list[dict[str, Any]],
    pg_schema: str,
    postgres_base: str,
) -> None:
    root = omop_data["root"]
    url = postgres_base.replace("postgresql+psycopg://", "postgresql://")
    flags = screen_flags(root, "omop-db", "--omop", url, "--omop-schema", pg_schema)
    assert flags == documented_flags


def test_an_omop_folder_of_parquet_reads_like_csv(
    omop_data: dict[str, Any], tmp_path: Path
) -> None:
    tables = omop_data["tables"]
    from_parquet, _ = converted(tmp_path / "p", {"clonazepam", "oxycodone"}, tables, "parquet")
    from_csv, _ = converted(omop_data["root"] / "omop", {"clonazepam"})
    assert from_parquet == from_csv
    assert len(from_csv) == len(tables["drug_exposure"])


def test_the_omop_tables_of_a_database_read_in_chunks_like_the_folder(
    omop_data: dict[str, Any], pg_schema: str, postgres_base: str, tmp_path: Path
) -> None:
    """PostgreSQL's integer, numeric and date columns, streamed 7 rows at a time."""
    url = postgres_base.replace("postgresql+psycopg://", "postgresql://")
    dump = tmp_path / "dump"
    dump.mkdir()
    dump_omop_db(url, pg_schema, dump, chunk_rows=7)
    assert pq.ParquetFile(dump / "drug_exposure.parquet").metadata.num_row_groups > 1
    from_db, _ = converted(dump, {"clonazepam"})
    from_csv, _ = converted(omop_data["root"] / "omop", {"clonazepam"})
    assert from_db == from_csv
    out = tmp_path / "db.parquet"
    assert convert_omop_db(url, pg_schema, out, {"clonazepam"}) == {}
    assert pq.read_table(out).num_rows == len(from_csv)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize(
    ("year", "month", "day", "expected"),
    [
        (1950, 3, 9, "1950-03-09"),
        (1950, 2, None, "1950-02-28"),  # day unknown: the last of the month
        (1952, 2, None, "1952-02-29"),
        (1950, None, None, "1950-12-31"),  # only the year: the last day, age not overstated
        ("1950", "12", None, "1950-12-31"),
        (None, 5, 5, None),
        (1950, 2, 30, "1950-02-30"),  # left for the checks to count as bad_birth_date
    ],
)
def test_birth_date_from_the_person_table(
    year: Any, month: Any, day: Any, expected: Any, fmt: str, tmp_path: Path
) -> None:
    tables = _tables()
    tables["person"] = [
        {"person_id": 1, "year_of_birth": year, "month_of_birth": month, "day_of_birth": day}
    ]
    (record,), _ = converted(tmp_path / "omop", {"clonazepam"}, tables, fmt)
    assert record.birth_date == expected


def _tables(**changes: Any) -> Tables:
    exposure = {
        "drug_exposure_id": 1,
        "person_id": 1,
        "drug_concept_id": 0,
        "drug_exposure_start_date": "2024-01-10",
        "quantity": 60,
        "days_supply": 30,
        "provider_id": 7,
        "visit_occurrence_id": None,
        "drug_source_value": "clonazepam 0.5 MG Oral Tablet",
    }
    tables: Tables = {
        "person": [{"person_id": 1, "year_of_birth": 1950}],
        "drug_exposure": [{**exposure, **changes}],
    }
    return tables


def test_without_concept_tables_the_source_value_gives_drug_and_strength(tmp_path: Path) -> None:
    (record,), skipped = converted(tmp_path / "omop", {"clonazepam"}, _tables())
    assert skipped == {}
    assert record.drug == "clonazepam 0.5 MG Oral Tablet" and record.strength_mg == 0.5
    assert record.birth_date == "1950-12-31" and record.pharmacy_id is None
    assert record.prescriber_id == "7" and record.fill_id == "1"


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
@pytest.mark.parametrize(
    ("amount", "unit", "mg"),
    [
        (0.5, "mg", 0.5),
        (250, "ug", 0.25),
        (500, " MCG ", 0.5),
        # the exact decimal shift: 2.1 / 1000 in binary floating point is not 0.0021
        (2.1, "ug", float(Decimal("2.1") / 1000)),
        (2, "g", 2),  # not a unit read: the 2 MG of the name
    ],
)
def test_drug_strength_gives_the_strength_in_mg(
    amount: float, unit: str, mg: float, fmt: str, tmp_path: Path
) -> None:
    tables = _tables(drug_concept_id=40, drug_source_value="")
    tables["concept"] = [
        {"concept_id": 40, "concept_name": "clonazepam 2 MG Oral Tablet", "concept_code": "x"},
        {"concept_id": 41, "concept_name": "clonazepam", "concept_code": "y"},
        {"concept_id": 42, "concept_name": "unit", "concept_code": unit},
    ]
    tables["drug_strength"] = [
        {
            "drug_concept_id": 40,
            "ingredient_concept_id": 41,
            "amount_value": amount,
            "amount_unit_concept_id": 42,
        }
    ]
    (record,), _ = converted(tmp_path / "omop", {"clonazepam"}, tables, fmt)
    assert record.drug == "clonazepam 2 MG Oral Tablet" and record.strength_mg == mg


def test_an_exposure_of_an_unknown_person_is_counted_not_screened(tmp_path: Path) -> None:
    tables = _tables(person_id=2)
    tables["drug_exposure"].append({**tables["drug_exposure"][0], "drug_exposure_id": 2})
    tables["drug_exposure"].append({**tables["drug_exposure"][0], "drug_exposure_id": 3})
    tables["drug_exposure"][2]["person_id"] = None  # no person id: screened, and refused
    records, skipped = converted(tmp_path / "omop", {"clonazepam"}, tables)
    assert skipped == {"omop_person_not_found": 2}
    assert [(r.fill_id, r.patient_id, r.birth_date) for r in records] == [("3", "", None)]


def test_malformed_omop_rows_are_counted_by_reason(tmp_path: Path) -> None:
    rows = [
        _tables(drug_exposure_id=1)["drug_exposure"][0],
        _tables(drug_exposure_id=2, days_supply="x")["drug_exposure"][0],
        _tables(drug_exposure_id=3, drug_exposure_start_date="2024-13-01")["drug_exposure"][0],
        _tables(drug_exposure_id=4, person_id=99)["drug_exposure"][0],
        _tables(drug_exposure_id=5, drug_source_value="sertraline 50 MG")["drug_exposure"][0],
    ]
    write_csv_tables({"person": [{"person_id": 1, "year_of_birth": 1950}]}, tmp_path)
    write_csv_tables({"drug_exposure": rows}, tmp_path)
    summary = tmp_path / "s.json"
    done = run_cli("screen", "--omop-dir", str(tmp_path), "--json", str(summary))
    assert done.returncode == 0, done.stderr
    result = json.loads(summary.read_text())
    assert result["malformed"] == {
        "bad_days_supply": 1,
        "bad_fill_date": 1,
        "omop_person_not_found": 1,
        "unknown_drug": 1,
    }
    assert result["rows_read"] == 5 and result["rows_screened"] == 1


def test_a_patient_without_pharmacy_ids_is_not_evaluated_for_multiple_providers(
    tmp_path: Path,
) -> None:
    fills = [
        _tables(
            drug_exposure_id=n,
            drug_exposure_start_date=f"2024-01-{n * 5:02d}",
            drug_source_value="oxycodone 5 MG Oral Tablet",
            provider_id=n,
            quantity=10,
            days_supply=5,
        )["drug_exposure"][0]
        for n in range(1, 6)
    ]
    write_csv_tables({"person": [{"person_id": 1, "year_of_birth": 1950}]}, tmp_path)
    write_csv_tables({"drug_exposure": fills}, tmp_path)
    summary = tmp_path / "s.json"
    done = run_cli("screen", "--omop-dir", str(tmp_path), "--json", str(summary))
    assert done.returncode == 0, done.stderr
    (rate,) = [r for r in json.loads(summary.read_text())["rates"] if r["rule"] == "SCR-MPE-OPIOID"]
    assert rate["not_evaluated"] == 1 and rate["denominator"] == 0 and rate["numerator"] == 0
    assert rate["not_evaluated_by_reason"] == {"no_prescriber_or_pharmacy_id": 1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--omop-dir", "/nonexistent/omop"], "is not a folder"),
        (["x.csv", "--omop-dir", "/tmp"], "exactly one of"),  # noqa: S108  refused unread
        ([], "exactly one of"),
        (["--omop", "postgresql://127.0.0.1/test", "--omop-schema", "a;drop"], "plain identifier"),
        (["--omop", "nosuchdb://x"], "not a usable database URL"),
        (["--omop-dir", "/tmp", "--omop-schema", "s"], "only used with --omop"),  # noqa: S108  refused unread
    ],
)
def test_bad_omop_options_exit_2_with_a_message(args: list[str], message: str) -> None:
    done = run_cli("screen", *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_an_omop_folder_without_person_is_refused(tmp_path: Path) -> None:
    write_csv_tables({"drug_exposure": _tables()["drug_exposure"]}, tmp_path)
    with pytest.raises(InvalidInput, match="lacks person"):
        convert_omop_dir(tmp_path, tmp_path / "out.parquet", {"clonazepam"})
    assert not (tmp_path / "out.parquet").exists()


def test_an_unreadable_omop_file_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    write_csv_tables({"person": _tables()["person"]}, tmp_path / "omop")
    (tmp_path / "omop" / "drug_exposure.parquet").write_bytes(b"not parquet at all")
    out = tmp_path / "flags.parquet"
    done = run_cli("screen", "--omop-dir", str(tmp_path / "omop"), "--out", str(out))
    assert done.returncode == 2, done.stderr
    assert "cannot read" in done.stderr and "drug_exposure.parquet" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


def test_a_bad_csv_line_past_the_sampled_rows_is_a_clear_error(tmp_path: Path) -> None:
    write_csv_tables({"person": _tables()["person"]}, tmp_path / "omop")
    lines = ["drug_exposure_id,person_id", *(f"{n},1" for n in range(1, 30001)), "30001,1,x,y"]
    (tmp_path / "omop" / "drug_exposure.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.parquet"
    with pytest.raises(InvalidInput, match="cannot read the OMOP tables"):
        convert_omop_dir(tmp_path / "omop", out, {"clonazepam"})
    assert not out.exists()


def test_ids_are_their_integer_else_their_text(tmp_path: Path) -> None:
    tables = _tables(drug_exposure_id="007", provider_id=" P-12 ", visit_occurrence_id=5.0)
    tables["person"] = [{"person_id": "1.0", "year_of_birth": 1950}]
    tables["visit_occurrence"] = [{"visit_occurrence_id": 5, "care_site_id": "NULL"}]
    (record,), skipped = converted(tmp_path / "omop", {"clonazepam"}, tables)
    assert skipped == {}
    assert (record.fill_id, record.patient_id, record.prescriber_id) == ("7", "1", "P-12")
    assert record.pharmacy_id is None  # "NULL" in a CSV is no care site, as pyarrow read it


def test_duplicate_look_up_rows_take_the_last_and_add_no_fills(tmp_path: Path) -> None:
    tables = _tables(visit_occurrence_id=9)
    tables["person"] = [
        {"person_id": 1, "year_of_birth": 1950, "month_of_birth": 3},
        {"person_id": 1, "year_of_birth": 1960, "month_of_birth": 4},
    ]
    tables["visit_occurrence"] = [
        {"visit_occurrence_id": 9, "care_site_id": 1},
        {"visit_occurrence_id": 9, "care_site_id": 2},
    ]
    for fmt in ("csv", "parquet"):
        (record,), _ = converted(tmp_path / fmt, {"clonazepam"}, tables, fmt)
        assert (record.birth_date, record.pharmacy_id) == ("1960-04-30", "2")


def test_a_drug_source_value_in_the_drug_map_is_the_drug(tmp_path: Path) -> None:
    """An all-digit NDC keeps its leading zeros; the map gives ingredient and strength."""
    tables = _tables(drug_concept_id=40, drug_source_value="00002323230")
    tables["concept"] = [{"concept_id": 40, "concept_name": "Unmapped product", "concept_code": 1}]
    write_csv_tables(tables, tmp_path / "omop")
    (record,), _ = converted(tmp_path / "omop", {"clonazepam", "00002323230"})
    assert record.drug == "00002323230" and record.strength_mg is None
    (record,), _ = converted(tmp_path / "omop", {"clonazepam"})
    assert record.drug == "Unmapped product"
    mapping = tmp_path / "map.csv"
    mapping.write_text("code,ingredient,strength_mg\n00002-3232-30,clonazepam,0.5\n")
    summary = tmp_path / "s.json"
    args = ["--omop-dir", str(tmp_path / "omop"), "--json", str(summary)]
    done = run_cli("screen", *args, "--drug-map", str(mapping))
    assert done.returncode == 0, done.stderr
    result = json.loads(summary.read_text())
    assert result["malformed"] == {} and result["rows_screened"] == 1
    done = run_cli("screen", *args)
    assert json.loads(summary.read_text())["malformed"] == {"unknown_drug": 1}


def test_spark_screens_the_converted_omop_table_like_duckdb(
    spark: Any, omop_data: dict[str, Any], tmp_path: Path
) -> None:
    """The Parquet DuckDB writes is what Spark reads (the full rule-case equality of the two
    engines is test_engines'); one measure keeps the Spark run short."""
    from benzosafe.population.engines import DuckDBEngine, Engine, SparkEngine
    from benzosafe.population.screen import ScreenOptions, flag_rows, screen

    out = tmp_path / "documented.parquet"
    convert_omop_dir(omop_data["root"] / "omop", out, {"clonazepam"})
    options = ScreenOptions(measures=("SCR-BZD-OLDER-ADULT",))
    results = []
    engine: Engine
    for engine in (DuckDBEngine(), SparkEngine(session=spark)):
        try:
            result = screen(engine, out, "parquet", load(), options)
            results.append((result.rows_screened, result.malformed, flag_rows(engine)))
        finally:
            engine.close()
    assert results[0][2] and results[0] == results[1]
    assert results[0][0] == len(omop_data["tables"]["drug_exposure"])


def test_omop_input_for_a_spark_cluster_is_a_clear_error(
    omop_data: dict[str, Any], tmp_path: Path
) -> None:
    """The OMOP join writes a file on this machine: a local Spark screens it (above), a
    cluster's executors need not be able to read it, so the screen refuses before any work."""
    root = omop_data["root"]
    out = tmp_path / "flags.parquet"
    done = run_cli(
        "screen", "--omop-dir", str(root / "omop"), "--out", str(out), "--engine", "spark",
        "--spark-master", "spark://127.0.0.1:7077",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert "OMOP input is joined on this machine" in done.stderr
    assert "--engine duckdb" in done.stderr
    assert not out.exists()
