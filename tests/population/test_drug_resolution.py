"""Screening resolves each distinct drug value of the records with the one resolver (issue
#16): NDCs in their spellings, brand and product names with strengths, combinations; a
malformed NDC is an unknown drug counted by reason, never a crash. NDCs are read from the
CDC workbook in ../shared/vectors (skipped when absent). DuckDB only: the same SQL runs on
Spark (tests/population/test_engines.py holds the engines together).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benzosafe.knowledge import load
from benzosafe.population.drugs import drug_keys, resolve_value
from benzosafe.population.engines import DuckDBEngine
from benzosafe.population.screen import ScreenOptions, flag_rows, screen

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"
WORKBOOK = VECTORS / "cdc-mme" / "CDC_Oral_Morphine_Milligram_Equivalents_Sept_2018.xlsx"
HEADER = (
    "fill_id,patient_id,birth_date,fill_date,drug,quantity,days_supply,prescriber_id,pharmacy_id\n"
)


def _first(sheet: str, drug: str, strength: float, with_word: str = "") -> tuple[Any, ...]:
    if not WORKBOOK.exists():
        pytest.skip(f"CDC workbook not found at {WORKBOOK} (../shared/vectors)")
    import openpyxl

    book = openpyxl.load_workbook(WORKBOOK, read_only=True)
    try:
        for row in book[sheet].iter_rows(values_only=True):
            if (
                str(row[6]).startswith(drug)
                and row[9] == strength
                and str(row[10]).upper() == "MG"
                and with_word.lower() in str(row[3]).lower()
            ):
                return tuple(row)
    finally:
        book.close()
    raise AssertionError(f"no {drug} {strength} mg row in sheet {sheet}")


def _hyphenated(ndc: str) -> str:
    return f"{ndc[:5]}-{ndc[5:9]}-{ndc[9:]}"


def test_records_by_ndc_and_by_name_screen_as_their_ingredient(tmp_path: Path) -> None:
    clonazepam = _first("Benzos", "Clonazepam", 1)
    hydrocodone = _first("Opioids", "Hydrocodone", 10, "acetaminophen")
    opioid, benzo = _hyphenated(str(hydrocodone[0])), str(clonazepam[0])
    rows = [
        f"1,p1,1970-01-01,2024-01-01,{opioid},120,30,d1,r1",
        f"2,p1,1970-01-01,2024-01-31,{opioid},120,30,d1,r1",
        f"3,p1,1970-01-01,2024-01-01,{benzo},30,30,d2,r1",
        f"4,p1,1970-01-01,2024-01-31,{benzo},30,30,d2,r1",
        "5,p2,1970-01-01,2024-01-01,Norco 10/325,120,30,d1,r1",
        "6,p2,1970-01-01,2024-01-31,Norco 10/325,120,30,d1,r1",
        "7,p2,1970-01-01,2024-01-01,KLONOPIN 1 MG TABLET,30,30,d2,r1",
        "8,p2,1970-01-01,2024-01-31,KLONOPIN 1 MG TABLET,30,30,d2,r1",
        "9,p3,1970-01-01,2024-01-01,0054-01A6-13,30,30,d2,r1",  # a malformed NDC
    ]
    path = tmp_path / "fills.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    engine = DuckDBEngine()
    result = screen(engine, path, "csv", load(), ScreenOptions(measures=("SCR-COB",)))
    assert result.malformed == {"unknown_drug": 1}
    assert result.rows_screened == 8
    assert {(p, r) for p, r, _, _ in flag_rows(engine)} == {("p1", "SCR-COB"), ("p2", "SCR-COB")}


def test_a_value_is_its_deciding_ingredient_with_the_strength_its_products_share() -> None:
    kb = load()
    found = resolve_value(kb, "Norco 10/325")
    assert found is not None and found[0].ingredient_id == "hydrocodone" and found[1] == 10
    liquid = resolve_value(kb, "promethazine with codeine")
    assert liquid is not None and liquid[0].ingredient_id == "codeine" and liquid[1] == 2
    assert resolve_value(kb, "0054-01A6-13") is None  # malformed: an unknown drug
    assert resolve_value(kb, "sertraline 50 mg") is None


def test_the_users_codes_win_over_a_resolution() -> None:
    from benzosafe.population.drugs import ProductCode

    kb = load()
    ndc = "00004-0058-01"
    resolved = {k.drug_key: k for k in drug_keys(kb, values=[ndc])}["00004005801"]
    assert resolved.ingredient == "clonazepam" and resolved.strength_mg == 1.0
    mine = {k.drug_key: k for k in drug_keys(kb, [ProductCode(ndc, "clonazepam", None)], [ndc])}
    assert mine["00004005801"].strength_mg is None
