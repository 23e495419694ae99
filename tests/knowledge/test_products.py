"""The product index: rebuilt from the CDC files it is the committed file, its provenance adds
up, it agrees with the knowledge base, and a damaged file is refused.

The CDC files are third-party material in ../shared/vectors; the tests that read them skip
with the reason when it is absent.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benzosafe.errors import InvalidInput, KnowledgeError
from benzosafe.knowledge import load
from benzosafe.knowledge.products import (
    load_products,
    load_products_from,
    product_row,
    products_path,
)
from benzosafe.knowledge.products_build import CODESYSTEM, VALUE_SETS, WORKBOOK, main
from benzosafe.knowledge.products_curated import read_curated
from benzosafe.knowledge.products_spelling import ndc11, ndc_spellings

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"
COMMITTED = Path(str(products_path()))


def vector(name: str) -> Path:
    path = VECTORS / name
    if not path.exists():
        pytest.skip(f"third-party test vectors not found at {path} (../shared/vectors)")
    return path


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    vector(WORKBOOK)
    out = tmp_path_factory.mktemp("products") / "products.json"
    assert main(["--vectors", str(VECTORS), "--out", str(out)]) == 0
    return out


def test_rebuilding_from_the_cdc_files_gives_the_committed_file(rebuilt: Path) -> None:
    assert rebuilt.read_bytes() == COMMITTED.read_bytes(), (
        "knowledge/data/products/products.json is stale: run "
        "python -m benzosafe.knowledge.products_build"
    )


def test_the_builder_refuses_a_missing_vectors_folder(tmp_path: Path) -> None:
    assert main(["--vectors", str(tmp_path), "--out", str(tmp_path / "p.json")]) == 2
    assert not (tmp_path / "p.json").exists()


def test_every_row_of_the_committed_file_is_valid() -> None:
    index = load_products()
    index.validate()
    assert len(index) == index.provenance.products
    assert len(index.by_ndc) == index.provenance.ndcs
    assert len(index.by_rxnorm) == index.provenance.rxnorm_codes


def test_provenance_counts_add_up() -> None:
    prov = load_products().provenance
    for source in prov.sources:
        assert source.read == source.kept + sum(source.dropped.values()), source.file
    by_file = {s.file: s for s in prov.sources}
    assert by_file[WORKBOOK].kept == prov.ndcs  # one NDC a workbook row
    assert sum(by_file[name].kept for name in VALUE_SETS) == prov.rxnorm_codes


def test_provenance_names_the_files_it_was_built_from() -> None:
    prov = load_products().provenance
    for source in prov.sources:
        path = vector(source.file) if not source.file.startswith("knowledge/") else None
        if path is not None:
            assert hashlib.sha256(path.read_bytes()).hexdigest() == source.sha256, source.file
    workbook = next(s for s in prov.sources if s.file == WORKBOOK)
    assert "2018" in workbook.title and "May 2018" in workbook.version
    for name in VALUE_SETS:
        data = json.loads(vector(name).read_text(encoding="utf-8"))
        recorded = next(s for s in prov.sources if s.file == name)
        assert data["date"] in recorded.date and recorded.read == len(data["expansion"]["contains"])


def test_every_workbook_row_and_value_set_code_is_in_the_index() -> None:
    import openpyxl

    index = load_products()
    book = openpyxl.load_workbook(vector(WORKBOOK), read_only=True)
    rows = 0
    for sheet in ("Opioids", "Benzos", "Muscle Relaxants", "Stimulants", "Misc Zolpidem"):
        for row in list(book[sheet].iter_rows(values_only=True))[1:]:
            rows += 1
            product = index.product(index.by_ndc[str(row[0])])
            assert product.name == row[2] and product.generic == row[3]
    book.close()
    assert rows == index.provenance.ndcs
    for name in VALUE_SETS:
        for concept in json.loads(vector(name).read_text(encoding="utf-8"))["expansion"][
            "contains"
        ]:
            assert index.product(index.by_rxnorm[concept["code"]]).name == concept["display"]


def test_mme_factors_are_the_knowledge_bases_and_the_cdc_2022_codesystem() -> None:
    index = load_products()
    for cls in load().depressant_classes.values():
        for ing in cls.ingredients:
            assert index.ingredients[ing.id].mme_factor == ing.mme_factor, ing.id
            assert cls.id in index.ingredients[ing.id].classes
    codesystem = json.loads(vector(CODESYSTEM).read_text(encoding="utf-8"))
    for concept in codesystem["concept"]:
        indexed = index.ingredients[concept["display"].lower()]
        assert indexed.rxnorm == concept["code"]
        plain = [p["valueDecimal"] for p in concept["property"] if p["code"] == "conversion-factor"]
        if indexed.mme_basis == "mg":
            assert indexed.mme_factor == Decimal(str(plain[0]))


def test_buprenorphine_has_no_mme_factor_and_it_and_methadone_treat_opioid_use_disorder() -> None:
    index = load_products()
    bup, methadone = index.ingredients["buprenorphine"], index.ingredients["methadone"]
    assert bup.mme_factor is None and "buprenorphine" in bup.mme_note
    assert bup.opioid_use_disorder_treatment and methadone.opioid_use_disorder_treatment
    assert {c.ref for c in bup.sources} >= {"J1", "CDC-NDC-MME"}
    for product in index.products(index.by_drug[frozenset({"buprenorphine", "naloxone"})]):
        assert product.opioid_use_disorder_treatment and product.mme_factor is None
        assert product.mme_note == bup.mme_note


def test_products_carry_the_mme_of_their_opioid_only_where_it_applies() -> None:
    index = load_products()
    for product in index.products():
        if product.mme_factor is not None:
            assert product.mme_ingredient is not None
            assert product.form_group != "injection" and product.form
        elif "opioids" in product.classes:
            assert product.mme_note, product.id
        if product.mme_basis == "mcg/h":
            assert product.form_group == "patch"


def test_liquids_have_their_concentration_in_mg_per_ml() -> None:
    index = load_products()
    liquids = [p for p in index.products() if p.form_group == "liquid"]
    assert liquids
    with_concentration = [p for p in liquids if any(i.unit == "mg/mL" for i in p.ingredients)]
    assert len(with_concentration) > len(liquids) * 0.9
    syrup = index.product(index.by_drug[frozenset({"codeine", "promethazine"})][0])
    assert {i.id: i.strength for i in syrup.ingredients} == {
        "codeine": Decimal(2),  # 10 mg/5 mL on the label
        "promethazine": Decimal("1.25"),  # 6.25 mg/5 mL
    }


def test_every_source_cited_is_in_sources_toml_the_one_place_for_sources() -> None:
    index = load_products()
    kb = load()
    for ref, source in index.sources.items():
        assert source == kb.sources[ref]
    assert {"CDC-NDC-MME", "DM-TYLENOL-CODEINE", "DM-PROMETHAZINE-CODEINE", "PT-APAP"} <= set(
        kb.sources
    )
    for alias in (*index.header.abbreviations, *index.header.names):
        assert alias.sources and all(c.ref in index.sources for c in alias.sources)


def test_the_curated_file_holds_no_sources_of_its_own(tmp_path: Path) -> None:
    aliases = Path(str(products_path())).with_name("aliases.toml")
    read_curated(aliases)
    extra = tmp_path / "aliases.toml"
    extra.write_text(
        aliases.read_text(encoding="utf-8") + '\n[source.X]\ntitle = "x"\n', encoding="utf-8"
    )
    with pytest.raises(KnowledgeError, match="source"):
        read_curated(extra)


# --- a damaged file is refused -------------------------------------------------------------


def _damaged(tmp_path: Path, change: Any) -> Path:
    data = json.loads(COMMITTED.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "products.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _first(data: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = data["products"][0]
    return row


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: _first(d).update(colour="blue"), "unknown keys"),
        (lambda d: _first(d).update(form_group="pill"), "form_group"),
        (lambda d: _first(d)["ingredients"].append(["unobtainium", "X"]), "unknown ingredients"),
        (lambda d: _first(d).update(mme_factor=1.5), "decimal written as a string"),
        (lambda d: _first(d).update(ndc="0005401"), "11 digits"),
        (lambda d: _first(d).pop("source"), "missing keys"),
    ],
)
def test_a_damaged_product_row_is_refused_naming_it(
    tmp_path: Path, change: Any, message: str
) -> None:
    index = load_products_from(_damaged(tmp_path, change))
    with pytest.raises(KnowledgeError, match=message) as caught:
        index.validate()
    assert json.loads(COMMITTED.read_text(encoding="utf-8"))["products"][0]["id"] in str(
        caught.value
    )


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d.update(format="benzosafe-products/0"),
        lambda d: d["abbreviations"][0]["sources"][0].update(ref="NOPE"),
        lambda d: d["products"].append(
            next(dict(p, id="twin") for p in d["products"] if "ndc" in p)
        ),
    ],
)
def test_a_damaged_header_or_a_repeated_ndc_is_refused_on_load(tmp_path: Path, change: Any) -> None:
    with pytest.raises(KnowledgeError):
        load_products_from(_damaged(tmp_path, change))


def test_rows_round_trip_through_the_file_format() -> None:
    index = load_products()
    data = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert [product_row(p) for p in index.products()] == data["products"]


# --- NDC spellings -------------------------------------------------------------------------

ELEVEN = st.text(alphabet="0123456789", min_size=11, max_size=11)


@given(ELEVEN)
def test_every_spelling_of_an_ndc_reads_back_to_it(ndc: str) -> None:
    for spelled in ndc_spellings(ndc):
        assert ndc in ndc11(spelled, "ndc")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0054-0176-13", "00054017613"),  # 4-4-2
        ("00054-176-13", "00054017613"),  # 5-3-2
        ("00054-0176-3", "00054017603"),  # 5-4-1
        ("00054-0176-13", "00054017613"),  # 5-4-2
        ("00054017613", "00054017613"),
    ],
)
def test_ndc_spellings_with_hyphens_mean_one_ndc(text: str, expected: str) -> None:
    assert ndc11(text, "ndc") == (expected,)


@pytest.mark.parametrize(
    "text", ["0054-01A6-13", "12345-678-9012", "123456789", "123456789012", "00054O17613", "1-2"]
)
def test_a_malformed_ndc_is_invalid_input_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        ndc11(text, "also_taking[0]")
    assert caught.value.field == "also_taking[0]" and "NDC" in str(caught.value)
