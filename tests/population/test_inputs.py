"""Inputs: CSV with malformed rows, FHIR MedicationDispense NDJSON, NDC mapping, bad options."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from benzosafe.errors import InvalidInput
from benzosafe.knowledge import load
from benzosafe.population.drugs import (
    ProductCode,
    drug_keys,
    import_cdc_workbook,
    read_product_map,
    write_product_map,
)
from benzosafe.population.engines import DuckDBEngine
from benzosafe.population.fhir import read_fhir_dispenses
from benzosafe.population.screen import ScreenOptions, flag_rows, screen

from .conftest import run_cli

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"
WORKBOOK = VECTORS / "cdc-mme" / "CDC_Oral_Morphine_Milligram_Equivalents_Sept_2018.xlsx"
HEADER = "fill_id,patient_id,birth_date,fill_date,drug,quantity,days_supply,strength_mg,prescriber_id,pharmacy_id\n"  # noqa: E501


def test_malformed_rows_are_counted_by_reason_and_do_not_stop_the_run(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text(
        HEADER
        + "1,p1,1960-05-01,2024-01-10,clonazepam,30,30,0.5,d1,r1\n"
        + "2,p1,1960-05-01,2024-13-01,clonazepam,30,30,0.5,d1,r1\n"  # month 13
        + "3,p1,1960-05-01,01/02/2024,clonazepam,30,30,0.5,d1,r1\n"  # not ISO
        + "4,p1,1960-05-01,2024-02-10,clonazepam,30,-30,0.5,d1,r1\n"
        + "4b,p1,1960-05-01,2024-02-10,clonazepam,30,100000000,0.5,d1,r1\n"  # past year 9999
        + "5,p1,1960-05-01,2024-02-10,sertraline,30,30,50,d1,r1\n"
        + "6,,1960-05-01,2024-02-10,clonazepam,30,30,0.5,d1,r1\n"
        + "7,p1,1960-05-01,2024-02-10,clonazepam,zero,30,0.5,d1,r1\n"
        + "8,p1,2030-01-01,2024-02-10,clonazepam,30,30,0.5,d1,r1\n"  # born after the fill
        + "9,p1,1960-05-01,2024-02-10,KLONOPIN,30,30,,d1,r1\n"  # no strength, no map
        + ",p1,1960-05-01,2024-02-10,clonazepam,30,30,0.5,d1,r1\n"
    )
    engine = DuckDBEngine()
    result = screen(engine, path, "csv", load())
    assert result.malformed == {
        "bad_birth_date": 1,
        "bad_days_supply": 2,
        "bad_fill_date": 2,
        "bad_quantity": 1,
        "bad_strength": 1,
        "missing_fill_id": 1,
        "missing_patient_id": 1,
        "unknown_drug": 1,
    }
    assert result.rows_read == 11 and result.rows_screened == 1
    assert result.period_end == "2024-02-08"  # the good fill's supply, not the bad one's


def test_a_user_mapping_classifies_product_codes_and_supplies_strength(tmp_path: Path) -> None:
    mapping = tmp_path / "map.csv"
    write_product_map([ProductCode("00004-0068-01", "clonazepam", None)], mapping)
    mapping.write_text(
        mapping.read_text().replace("00004-0068-01,clonazepam,", "00004-0068-01,clonazepam,2")
    )
    products = tuple(read_product_map(mapping))
    path = tmp_path / "d.csv"
    path.write_text(HEADER + "1,p1,1960-05-01,2024-01-10,00004006801,30,30,,d1,r1\n")
    engine = DuckDBEngine()
    options = ScreenOptions(products=products, measures=("SCR-BZD-HIGH-DOSE",))
    result = screen(engine, path, "csv", load(), options)
    assert result.malformed == {}
    assert [r for _, r, _, _ in flag_rows(engine)] == ["SCR-BZD-HIGH-DOSE"]  # 2 mg a day


def test_a_mapping_to_an_unknown_ingredient_is_refused() -> None:
    with pytest.raises(InvalidInput, match="sertraline"):
        drug_keys(load(), [ProductCode("123", "sertraline")])


def _fhir(tmp_path: Path) -> Path:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "Patient.ndjson").write_text(
        json.dumps({"resourceType": "Patient", "id": "p1", "birthDate": "1950-06-01"}) + "\n"
    )
    (folder / "MedicationRequest.ndjson").write_text(
        json.dumps(
            {
                "resourceType": "MedicationRequest",
                "id": "rx1",
                "requester": {"reference": "Practitioner/d9"},
            }
        )
        + "\n"
    )
    dispense = {
        "resourceType": "MedicationDispense",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "204892",
                    "display": "clonazePAM 0.25 MG Oral Tablet",
                }
            ]
        },
        "quantity": {"value": 60},
        "daysSupply": {"value": 30, "unit": "d"},
        "authorizingPrescription": [{"reference": "MedicationRequest/rx1"}],
        "location": {"reference": "Location/pharm1"},
    }
    lines = [
        json.dumps({**dispense, "id": "md1", "whenHandedOver": "2024-01-05T10:00:00Z"}),
        json.dumps({**dispense, "id": "md2", "whenHandedOver": "2024-02-04T10:00:00Z"}),
        json.dumps({**dispense, "id": "md3", "status": "entered-in-error"}),
        "{not json",
    ]
    (folder / "MedicationDispense.ndjson").write_text("\n".join(lines) + "\n")
    return folder


def test_fhir_dispenses_are_read_by_ingredient_with_prescriber_and_pharmacy(tmp_path: Path) -> None:
    known = {k.drug_key for k in drug_keys(load())}
    records, skipped = read_fhir_dispenses(_fhir(tmp_path), known)
    assert skipped == {"fhir_bad_json": 1, "fhir_not_completed": 1}
    first = records[0]
    assert (first.patient_id, first.birth_date, first.fill_date) == (
        "p1",
        "1950-06-01",
        "2024-01-05",
    )
    assert (first.drug, first.strength_mg, first.quantity, first.days_supply) == (
        "clonazePAM 0.25 MG Oral Tablet",
        0.25,
        60.0,
        30,
    )
    assert (first.prescriber_id, first.pharmacy_id) == ("d9", "pharm1")


def test_cli_screens_a_fhir_export(tmp_path: Path) -> None:
    flags = tmp_path / "flags.parquet"
    summary = tmp_path / "s.json"
    ran = run_cli("screen", str(_fhir(tmp_path)), "--out", str(flags), "--json", str(summary))
    assert ran.returncode == 0, ran.stderr
    rules = {row["rule"] for row in pq.read_table(flags).to_pylist()}
    assert rules == {"SCR-BZD-OLDER-ADULT"}  # 73 years old, 0.5 mg a day, 2 months
    result = json.loads(summary.read_text())
    assert result["malformed"] == {"fhir_bad_json": 1, "fhir_not_completed": 1}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "oracle"], "engine: unknown 'oracle'"),
        (["--from", "2024-02-30"], "from: '2024-02-30' is not a date"),
        (["--from", "2024-12-01", "--to", "2024-01-01"], "period: ends"),
        (["--format", "xml"], "format: unknown"),
        (["--min-prescribers", "0"], "min_prescribers: must be at least 1"),
        (["--memory-limit", "lots"], "memory limit: 'lots' is not a size"),
    ],
)
def test_bad_options_exit_2_with_a_message(tmp_path: Path, args: list[str], message: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(HEADER + "1,p1,1960-05-01,2024-01-10,clonazepam,30,30,0.5,d1,r1\n")
    ran = run_cli("screen", str(path), *args)
    assert ran.returncode == 2
    assert message in ran.stderr and "Traceback" not in ran.stderr


def test_missing_columns_and_bad_exclusions_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("fill_id,patient_id\n1,p1\n")
    ran = run_cli("screen", str(path))
    assert ran.returncode == 2 and "lacks fill_date" in ran.stderr
    good = tmp_path / "g.csv"
    good.write_text(HEADER + "1,p1,1960-05-01,2024-01-10,clonazepam,30,30,0.5,d1,r1\n")
    excl = tmp_path / "x.csv"
    excl.write_text("patient_id,reason\np1,holiday\n")
    ran = run_cli("screen", str(good), "--exclusions", str(excl))
    assert ran.returncode == 2 and "holiday" in ran.stderr and "allowed: cancer" in ran.stderr


@pytest.mark.skipif(
    not WORKBOOK.exists(), reason="../shared/vectors/cdc-mme is not beside the repo"
)
def test_cdc_workbook_import_makes_a_mapping_that_screens(tmp_path: Path) -> None:
    result = import_cdc_workbook(WORKBOOK, load())
    by_code = {c.code: c for c in result.codes}
    assert by_code["00005334031"].ingredient == "alprazolam"
    assert float(by_code["00005334031"].strength_mg or 0) == 0.25
    assert any(c.ingredient == "clonazepam" for c in result.codes)
    assert any(c.ingredient == "oxycodone" for c in result.codes)
    assert result.skipped  # stimulants' sheet is not read; unknown ingredients are counted
    mapping = tmp_path / "map.csv"
    ran = run_cli("drug-map", "import-cdc", str(WORKBOOK), "--out", str(mapping))
    assert ran.returncode == 0, ran.stderr
    path = tmp_path / "d.csv"
    path.write_text(HEADER + "1,p1,1960-05-01,2024-01-10,00005-3340-31,240,30,,d1,r1\n")
    summary = tmp_path / "s.json"
    ran = run_cli("screen", str(path), "--drug-map", str(mapping), "--json", str(summary))
    assert ran.returncode == 0, ran.stderr
    assert json.loads(summary.read_text())["malformed"] == {}


def test_every_drug_with_dose_bands_has_a_diazepam_equivalent() -> None:
    # The SQL compares a first or last fill with a dose band by its dose in diazepam
    # equivalents (sql/first_last.py, _ends_table), and the high-dose value is that dose:
    # neither may be NULL.
    banded = [k for k in drug_keys(load()) if k.low_max_mg is not None]
    assert banded
    assert [k.drug_key for k in banded if k.de_per_mg is None] == []


def test_duckdb_reads_file_uris_and_parquet_directories_and_refuses_remote_uris(
    tmp_path: Path,
) -> None:
    path = tmp_path / "d.csv"
    path.write_text(HEADER + "1,p1,1950-05-01,2024-01-10,clonazepam,30,30,0.5,d1,r1\n")
    flags = tmp_path / "flags.parquet"
    ran = run_cli("screen", path.as_uri(), "--out", flags.as_uri())
    assert ran.returncode == 0, ran.stderr
    assert {r["rule"] for r in pq.read_table(flags).to_pylist()} == {"SCR-BZD-OLDER-ADULT"}
    # a directory of Parquet files, as Spark writes one (its suffix says Parquet)
    folder = tmp_path / "fills.parquet"
    folder.mkdir()
    engine = DuckDBEngine()
    screen(engine, path, "csv", load())
    engine.write_parquet("SELECT * FROM raw", folder / "part-00000.parquet")
    engine.close()
    (folder / "_SUCCESS").write_text("")
    summary = tmp_path / "s.json"
    ran = run_cli("screen", str(folder), "--json", str(summary))
    assert ran.returncode == 0, ran.stderr
    assert json.loads(summary.read_text())["flags"]["SCR-BZD-OLDER-ADULT"] == 1
    for uri, message in [
        ("hdfs://namenode:8020/claims/fills.parquet", "--engine spark reads it"),
        ("s3a://claims/fills.parquet", "--engine spark reads it"),
        ("file://elsewhere/fills.parquet", "names a file on this machine"),
    ]:
        ran = run_cli("screen", uri)
        assert ran.returncode == 2 and message in ran.stderr, ran.stderr
        assert "Traceback" not in ran.stderr
    ran = run_cli("screen", str(path), "--out", "hdfs://namenode:8020/flags")
    assert ran.returncode == 2 and "out: hdfs://" in ran.stderr
