"""The resolver against names and codes taken from the CDC files, and the real-world strings
of issue #16: brands, generics, combinations, liquids by volume, NDC spellings, RxNorm codes.

Workbook rows and value-set codes are read here from ../shared/vectors (skipped when absent),
not typed: a sample of every workbook sheet, and every value-set code and display.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benzosafe.clinical.mme import mme_per_day
from benzosafe.clinical.resolve import (
    NDC_SYSTEM,
    RXNORM_SYSTEM,
    Ambiguous,
    Resolution,
    Resolved,
    Unresolved,
    resolve,
    resolve_coding,
)
from benzosafe.errors import InvalidInput
from benzosafe.knowledge.products import Product, load_products
from benzosafe.knowledge.products_build import VALUE_SETS, WORKBOOK
from benzosafe.knowledge.products_spelling import ndc_spellings

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"
SHEETS = ("Opioids", "Benzos", "Muscle Relaxants", "Stimulants", "Misc Zolpidem")
INDEX = load_products()


def vector(name: str) -> Path:
    path = VECTORS / name
    if not path.exists():
        pytest.skip(f"third-party test vectors not found at {path} (../shared/vectors)")
    return path


def products_of(result: Resolution) -> list[Product]:
    if isinstance(result, Resolved):
        return list(result.products)
    if isinstance(result, Ambiguous):
        return [p for c in result.candidates for p in c.products]
    return []


@pytest.fixture(scope="module")
def workbook_rows() -> list[tuple[str, tuple[Any, ...]]]:
    """Every row of the CDC workbook's product sheets, with its sheet."""
    import openpyxl

    book = openpyxl.load_workbook(vector(WORKBOOK), read_only=True)
    rows = [
        (sheet, row)
        for sheet in SHEETS
        for row in list(book[sheet].iter_rows(values_only=True))[1:]
    ]
    book.close()
    return rows


def test_every_workbook_ndc_resolves_to_its_product(
    workbook_rows: list[tuple[str, tuple[Any, ...]]],
) -> None:
    for _sheet, row in workbook_rows:
        result = resolve(INDEX, row[0])
        assert isinstance(result, Resolved) and result.matched == "ndc", row
        product = result.product
        assert product is not None and row[0] in product.ndc and product.name == row[2]
        drug = str(row[6]).removesuffix(" SA").removesuffix(" LA")
        assert INDEX.ingredient_id(drug) in result.ingredients, row


def test_workbook_product_names_resolve_with_and_without_their_strength(
    workbook_rows: list[tuple[str, tuple[Any, ...]]],
) -> None:
    """Every 25th row: its product name, and name + strength + unit as a prescriber writes
    them. A product name that spells other ingredients than the row's generic name (the
    provenance counts these) resolves to what it spells."""
    named_otherwise = set()
    for _sheet, row in workbook_rows[::25]:
        ndc, name, strength, unit = row[0], row[2], row[9], row[10]
        target = INDEX.product(INDEX.by_ndc[ndc])
        texts = [name]
        if strength is not None and unit and not any(c.isdigit() for c in name):
            texts.append(f"{name} {strength} {unit.lower()}")
        for text in texts:
            result = resolve(INDEX, text)
            assert not isinstance(result, Unresolved), (text, result)
            if target not in products_of(result):
                assert isinstance(result, Resolved) and result.matched == "ingredients"
                assert set(result.ingredients) != target.ingredient_ids, text
                named_otherwise.add(ndc)
    workbook = next(s for s in INDEX.provenance.sources if s.file == WORKBOOK)
    counted = [n for n in workbook.notes if n.startswith("product name names other")]
    assert len(named_otherwise) <= int(counted[0].rsplit(": ", 1)[1])


def test_every_value_set_code_and_display_resolves() -> None:
    for name in VALUE_SETS:
        data = json.loads(vector(name).read_text(encoding="utf-8"))
        for concept in data["expansion"]["contains"]:
            target = INDEX.product(INDEX.by_rxnorm[concept["code"]])
            by_code = resolve(INDEX, concept["code"])
            assert isinstance(by_code, Resolved) and by_code.product == target
            by_coding = resolve_coding(INDEX, RXNORM_SYSTEM, concept["code"], "code")
            assert by_coding == by_code
            by_display = resolve(INDEX, concept["display"])
            # A component ("Codeine sulfate 15 MG") resolves to the products one takes.
            assert isinstance(by_display, Resolved), concept
            assert target in by_display.products or (
                set(by_display.ingredients) == target.ingredient_ids and not target.form
            ), concept


def test_a_name_of_several_drugs_is_ambiguous_and_lists_them(
    workbook_rows: list[tuple[str, tuple[Any, ...]]],
) -> None:
    """Product names the workbook gives to products of different ingredients (D-REX 65:
    propoxyphene alone, with acetaminophen, with aspirin and caffeine)."""
    drugs: dict[str, set[frozenset[str]]] = {}
    for _sheet, row in workbook_rows:
        drugs.setdefault(row[2], set()).add(INDEX.product(INDEX.by_ndc[row[0]]).ingredient_ids)
    several = {name: found for name, found in drugs.items() if len(found) > 1}
    assert several
    for name, found in several.items():
        result = resolve(INDEX, name)
        if isinstance(result, Resolved):  # a generic name is read as the ingredients it spells
            assert result.matched == "ingredients", name
            continue
        assert isinstance(result, Ambiguous), name
        assert {frozenset(c.ingredients) for c in result.candidates} == found
        assert "opioids" in result.classes


def test_a_bare_ten_digit_ndc_that_fits_two_products_lists_both() -> None:
    spelled: dict[str, set[str]] = {}
    for ndc in INDEX.by_ndc:
        for text in ndc_spellings(ndc):
            if len(text) == 10 and "-" not in text:
                spelled.setdefault(text, set()).add(ndc)
    shared = {text: ndcs for text, ndcs in spelled.items() if len(ndcs) > 1}
    assert shared
    for text, ndcs in shared.items():
        found = {n for p in products_of(resolve(INDEX, text)) for n in p.ndc}
        assert ndcs <= found


def test_every_spelling_of_every_ndc_in_the_index_resolves_to_its_product() -> None:
    for ndc, row in INDEX.by_ndc.items():
        target = INDEX.product(row)
        for text in ndc_spellings(ndc):
            assert target in products_of(resolve(INDEX, text)), text


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(INDEX.by_ndc)))
def test_every_ndc_in_the_index_resolves_in_all_its_spellings(ndc: str) -> None:
    target = INDEX.product(INDEX.by_ndc[ndc])
    for text in (*ndc_spellings(ndc), f"NDC {ndc}", f"ndc:{ndc[:5]}-{ndc[5:9]}-{ndc[9:]}"):
        assert target in products_of(resolve(INDEX, text)), text
    assert target in products_of(resolve_coding(INDEX, NDC_SYSTEM, ndc, "code"))


# --- the strings of issue #16 ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ingredients", "mme_per_day"),
    [
        ("oxycodone/acetaminophen 5/325 mg q6h", {"oxycodone", "acetaminophen"}, "30"),
        ("hydrocodone-APAP 10/325", {"hydrocodone", "acetaminophen"}, None),
        ("hydrocodone-APAP 10/325 1 tab q6h prn", {"hydrocodone", "acetaminophen"}, "40"),
        ("Percocet", {"oxycodone", "acetaminophen"}, None),
        ("Norco 10/325", {"hydrocodone", "acetaminophen"}, None),
        ("Norco 10/325 q6h", {"hydrocodone", "acetaminophen"}, "40"),
        ("Tylenol #3", {"acetaminophen", "codeine"}, None),
        ("Tylenol #3 1 tab q4h", {"acetaminophen", "codeine"}, "27"),
        ("Suboxone 8/2 mg daily", {"buprenorphine", "naloxone"}, None),
        ("promethazine with codeine 5 mL q4h", {"promethazine", "codeine"}, "9"),
        # CDC worked examples [CDC1] and the CQL test vector [CDC3]
        ("hydrocodone 5 mg qid", {"hydrocodone"}, "20"),
        ("oxycodone ER 10 mg q12h", {"oxycodone"}, "30"),
        ("fentanyl 75 mcg/h", {"fentanyl"}, "180"),
        ("Duragesic 75 mcg/hr patch q72h", {"fentanyl"}, "180"),
        ("methadone 10 mg bid", {"methadone"}, "94"),
    ],
)
def test_real_world_strings_resolve_to_their_drug(
    text: str, ingredients: set[str], mme_per_day: str | None
) -> None:
    result = resolve(INDEX, text)
    assert isinstance(result, Resolved), result
    assert set(result.ingredients) == ingredients and "opioids" in result.classes
    estimate = mme_per_day_of(result)
    if mme_per_day is None:
        assert estimate.mme_per_day is None and estimate.reason
    else:
        assert estimate.mme_per_day == Decimal(mme_per_day), estimate


def mme_per_day_of(result: Resolved) -> Any:
    return mme_per_day(result)


def test_combination_products_count_every_ingredient_and_mme_comes_from_the_opioid() -> None:
    result = resolve(INDEX, "Norco 10/325")
    assert isinstance(result, Resolved) and result.mme_per_unit == Decimal(10)
    for product in result.products:
        assert {i.id for i in product.ingredients} == {"hydrocodone", "acetaminophen"}
        assert product.mme_ingredient == "hydrocodone"


def test_tylenol_number_3_is_the_labels_300_30_through_a_cited_alias() -> None:
    result = resolve(INDEX, "Tylenol #3")
    assert isinstance(result, Resolved) and result.alias is not None
    assert {c.ref for c in result.alias.sources} >= {"DM-TYLENOL-CODEINE"}
    assert result.mme_per_unit == Decimal("4.5")  # codeine 30 mg x 0.15
    assert all(p.strength_of("codeine") == (Decimal(30), "mg") for p in result.products)
    for spelled in ("Tylenol No. 3", "TYLENOL #3", "tylenol  no 3"):
        assert resolve_ok(spelled).products == result.products


def test_buprenorphine_is_opioid_use_disorder_treatment_without_an_mme_factor() -> None:
    for text in ("Suboxone 8/2 mg daily", "Zubsolv", "Sublocade", "Butrans 10 mcg/h", "Subutex"):
        result = resolve(INDEX, text)
        assert isinstance(result, Resolved), text
        assert result.opioid_use_disorder_treatment and result.mme_per_unit is None
        assert "no MME conversion factor" in result.mme_note
        assert "buprenorphine" in mme_per_day(result).reason


def test_methadone_is_opioid_use_disorder_treatment_with_the_cdc_2022_factor() -> None:
    result = resolve(INDEX, "Methadose 10 mg/mL 5 mL daily")
    assert isinstance(result, Resolved) and result.opioid_use_disorder_treatment
    assert mme_per_day(result).mme_per_day == Decimal("235")  # 50 mg x 4.7


def test_a_liquid_dose_in_ml_needs_a_concentration() -> None:
    assert mme_per_day_of(resolve_ok("Percocet 5 mL q4h")).mme_per_day is None
    liquid = resolve_ok("oxycodone 5 mg/5 mL 10 mL q6h")
    assert mme_per_day(liquid).mme_per_day == Decimal(60)
    assert "mL" in mme_per_day(resolve_ok("oxycodone 5 mg/5 mL q6h")).reason


def test_a_bare_number_that_fits_tablets_and_liquids_asks_for_the_unit() -> None:
    bare = resolve_ok("oxycodone 10 q6h")  # 10 mg tablets and 10 mg/mL solutions
    assert bare.mme_per_unit is None and "mg/mL" in bare.mme_note
    assert mme_per_day(resolve_ok("oxycodone 10 mg q6h")).mme_per_day == Decimal(60)
    # a strength no product has is still the dose written: 7 mg/mL x 5 mL x 6 x 1.5
    assert mme_per_day(resolve_ok("oxycodone 7 mg/mL 5 mL q4h")).mme_per_day == Decimal(315)


def resolve_ok(text: str) -> Resolved:
    result = resolve(INDEX, text)
    assert isinstance(result, Resolved), result
    return result


def test_other_cns_depressants_and_benzodiazepines_resolve_by_brand_or_generic() -> None:
    for text, cls in [
        ("Xanax XR 1 mg", "benzodiazepines"),
        ("Klonopin 0.5 mg bid", "benzodiazepines"),
        ("clonazePAM 0.25 MG Oral Tablet", "benzodiazepines"),  # Synthea's display
        ("Ambien 10 mg qhs", "z-drugs"),
        ("Soma 350 mg tid", "muscle-relaxants"),
        ("pregabalin 75 mg bid", "gabapentinoids"),
        ("alcohol", "alcohol"),
    ]:
        assert cls in resolve_ok(text).classes, text


def test_unknown_names_are_unresolved_with_the_reason() -> None:
    tylenol = resolve(INDEX, "Tylenol")
    assert isinstance(tylenol, Unresolved) and "tylenol" in tylenol.reason
    cough = resolve(INDEX, "codeine/guaifenesin 10 mL q4h")
    assert isinstance(cough, Unresolved) and cough.recognised == ("codeine",)
    synthea = resolve(INDEX, "204892")  # not in the CDC value set
    assert isinstance(synthea, Unresolved) and "204892" in synthea.reason
    assert isinstance(resolve(INDEX, "00000000000"), Unresolved)
    assert isinstance(resolve_coding(INDEX, "http://snomed.info/sct", "1", "code"), Unresolved)


@pytest.mark.parametrize(
    "text", ["0054-01A6-13", "12345-678-9012", "123456789", "00054O17613", "ndc:54017613"]
)
def test_a_malformed_ndc_is_an_error_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        resolve(INDEX, text, field="also_taking[2]")
    assert caught.value.field == "also_taking[2]" and "NDC" in str(caught.value)


def test_an_empty_medication_is_an_error() -> None:
    with pytest.raises(InvalidInput):
        resolve(INDEX, "   ", field="also_taking[0]")
