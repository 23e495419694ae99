"""Classification of MedicationRequests through the one resolver, against the CDC value sets
and the CDC NDC workbook (../shared/vectors, skipped when absent): every benzodiazepine code
classifies as a benzodiazepine and every opioid code as an opioid, by code alone and by its
display alone; NDC codings of the workbook classify as their sheet says."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benzosafe.clinical.medications import BENZODIAZEPINE, classified, primary
from benzosafe.clinical.resolve import NDC_SYSTEM, Resolved
from benzosafe.errors import InvalidInput
from benzosafe.fhir.medications import RXNORM, medication_facts, resolve_medication
from benzosafe.knowledge import load

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "cdc-opioid-cds"


def _codes(name: str) -> list[tuple[str, str]]:
    path = VECTORS / name
    if not path.exists():
        pytest.skip(f"CDC value set not found at {path} (../shared/vectors)")
    data = json.loads(path.read_text(encoding="utf-8"))
    return [(c["code"], c["display"]) for c in data["expansion"]["contains"]]


def _class(codings: list[tuple[str | None, str, str]], texts: list[str]) -> str | None:
    kb = load()
    found = primary(classified(kb, resolve_medication(kb, codings, texts, "draft")))
    return found.class_id if found else None


@pytest.mark.parametrize(
    ("value_set", "cls", "size"),
    [
        ("valueset-benzodiazepine-medications.json", BENZODIAZEPINE, 181),
        ("valueset-opioid-analgesics-with-ambulatory-misuse-potential.json", "opioids", 1000),
    ],
)
def test_every_value_set_code_classifies_as_its_class_by_code_and_by_display(
    value_set: str, cls: str, size: int
) -> None:
    codes = _codes(value_set)
    assert len(codes) >= size
    by_code = [c for c, _ in codes if _class([(RXNORM, c, "code")], []) != cls]
    by_display = [d for _, d in codes if _class([], [d]) != cls]
    assert by_code == [] and by_display == []


def test_workbook_ndc_codings_classify_as_their_sheet() -> None:
    import openpyxl

    path = VECTORS.parent / "cdc-mme" / "CDC_Oral_Morphine_Milligram_Equivalents_Sept_2018.xlsx"
    if not path.exists():
        pytest.skip(f"CDC workbook not found at {path} (../shared/vectors)")
    book = openpyxl.load_workbook(path, read_only=True)
    sheets = {"Opioids": "opioids", "Benzos": BENZODIAZEPINE, "Misc Zolpidem": "z-drugs"}
    for sheet, cls in sheets.items():
        rows = list(book[sheet].iter_rows(values_only=True))[1::40]
        for row in rows:
            ndc = str(row[0])
            hyphenated = f"{ndc[:5]}-{ndc[5:9]}-{ndc[9:]}"
            assert _class([(NDC_SYSTEM, hyphenated, "code")], []) == cls, row
    book.close()


def test_a_malformed_ndc_coding_is_an_error_naming_the_coding() -> None:
    request = _request(coding=[{"system": NDC_SYSTEM, "code": "0054-01A6-13"}])
    with pytest.raises(InvalidInput) as caught:
        medication_facts(load(), request, "context.draftOrders[0]")
    assert caught.value.field == "context.draftOrders[0].medicationCodeableConcept.coding[0].code"


def _request(**concept: Any) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/p1"},
        "medicationCodeableConcept": concept,
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
            }
        ],
    }


def test_a_product_code_missing_from_the_value_set_is_recognised_by_ingredient() -> None:
    # Synthea's clonazepam product is not in the CDC value set.
    facts = medication_facts(
        load(),
        _request(
            coding=[
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "204892",
                    "display": "clonazePAM 0.25 MG Oral Tablet",
                }
            ]
        ),
        "draft",
    )
    assert facts.classified is not None
    assert facts.classified.ingredient_id == "clonazepam"
    assert str(facts.dose_mg) == "0.25"
    assert facts.frequency is not None and facts.frequency.times_per_day == 2


def test_an_unknown_medication_is_not_classified() -> None:
    facts = medication_facts(load(), _request(text="Amoxicillin 500 mg capsule"), "d")
    assert facts.classified is None and not facts.identified


def test_a_combination_opioid_gives_its_mme_from_the_opioid_strength() -> None:
    """Oxycodone/acetaminophen 5/325 by its RxNorm code (CDC value set), 1 tablet four times
    a day: 20 mg oxycodone a day x 1.5."""
    facts = medication_facts(
        load(),
        {
            **_request(coding=[{"system": RXNORM, "code": "1049221"}]),
            "dosageInstruction": [
                {
                    "timing": {"repeat": {"frequency": 4, "period": 1, "periodUnit": "d"}},
                    "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "tablet"}}],
                }
            ],
        },
        "d",
    )
    assert isinstance(facts.resolution, Resolved)
    assert set(facts.resolution.ingredients) == {"oxycodone", "acetaminophen"}
    assert facts.mme.mme_per_day == 30 and facts.mme.opioid_per_day == "oxycodone 20 mg/day"


def test_a_liquid_in_ml_gives_mg_and_mme_from_its_concentration() -> None:
    facts = medication_facts(
        load(),
        {
            **_request(text="promethazine with codeine oral solution"),
            "dosageInstruction": [
                {
                    "timing": {"repeat": {"frequency": 1, "period": 4, "periodUnit": "h"}},
                    "doseAndRate": [{"doseQuantity": {"value": 5, "unit": "mL"}}],
                }
            ],
        },
        "d",
    )
    assert facts.mme.mme_per_day == 9 and facts.mme.opioid_per_day == "codeine 60 mg/day"
