"""Ingredient-level classification against the CDC value sets (../shared/vectors, skipped when
absent): every benzodiazepine code classifies as a benzodiazepine, no opioid code does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benzosafe.clinical.medications import BENZODIAZEPINE
from benzosafe.fhir.medications import classify_texts, medication_facts, primary
from benzosafe.knowledge import load

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors" / "cdc-opioid-cds"


def _codes(name: str) -> list[tuple[str, str]]:
    path = VECTORS / name
    if not path.exists():
        pytest.skip(f"CDC value set not found at {path} (../shared/vectors)")
    data = json.loads(path.read_text(encoding="utf-8"))
    return [(c["code"], c["display"]) for c in data["expansion"]["contains"]]


def test_every_benzodiazepine_value_set_code_is_a_benzodiazepine() -> None:
    kb, cds = load(), load().cds
    codes = _codes("valueset-benzodiazepine-medications.json")
    assert len(codes) == 181
    wrong = [
        (code, display)
        for code, display in codes
        if (hit := primary(classify_texts(kb, cds, [code], [display]))) is None
        or hit.class_id != BENZODIAZEPINE
    ]
    assert wrong == []


def test_no_opioid_value_set_code_is_a_benzodiazepine() -> None:
    kb, cds = load(), load().cds
    codes = _codes("valueset-opioid-analgesics-with-ambulatory-misuse-potential.json")
    assert len(codes) > 1000
    benzo = [
        (code, display)
        for code, display in codes
        if any(i.class_id == BENZODIAZEPINE for i in classify_texts(kb, cds, [code], [display]))
    ]
    assert benzo == []
    opioids = [
        code
        for code, display in codes
        if any(i.class_id == "opioids" for i in classify_texts(kb, cds, [code], [display]))
    ]
    assert len(opioids) > 0.8 * len(codes)


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
        load().cds,
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
    facts = medication_facts(load(), load().cds, _request(text="Amoxicillin 500 mg capsule"), "d")
    assert facts.classified is None
