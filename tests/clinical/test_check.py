"""The prescription check beyond each rule's own cases: parsing errors and invariants."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benzosafe.clinical.check import CheckReport, check_raw
from benzosafe.errors import InvalidInput
from benzosafe.knowledge import load

KB = load()


def run(order: dict[str, Any], patient: dict[str, Any]) -> CheckReport:
    return check_raw(order, patient, KB)


BASE = {
    "drug": "clonazepam",
    "dose": "0.5 mg",
    "frequency": "tid",
    "indication": "seizure-disorder",
}


@pytest.mark.parametrize(
    ("order", "patient", "field"),
    [
        ({**BASE, "dose": "0.5"}, {"age": 40}, "order.dose"),
        ({**BASE, "frequency": "sometimes"}, {"age": 40}, "order.frequency"),
        ({**BASE, "indication": "headache"}, {"age": 40}, "order.indication"),
        ({**BASE, "start": "20/11/2026"}, {"age": 40}, "order.start"),
        ({**BASE, "refills": -1}, {"age": 40}, "order.refills"),
        ({**BASE, "colour": "blue"}, {"age": 40}, "order.colour"),
        (BASE, {"age": 40, "weight": "60"}, "patient.weight"),
        (BASE, {"age": 300}, "patient.age"),
        (BASE, {}, "patient.age"),
        (BASE, {"age": 40, "conditions": ["gout"]}, "patient.conditions[0]"),
        (BASE, {"age": 40, "also_taking": ["0054-01A6-13"]}, "patient.also_taking[0]"),
        (BASE, {"age": 40, "also_taking": ["zolpidem", "  "]}, "patient.also_taking[1]"),
        ({**BASE, "drug": "0054-01A6-13"}, {"age": 40}, "order.drug"),
    ],
)
def test_bad_input_names_the_field(
    order: dict[str, Any], patient: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInput) as info:
        run(order, patient)
    assert info.value.field == field


def test_report_shape_and_equivalent() -> None:
    report = run(BASE, {"age": 40}).to_dict()
    assert report["daily_dose_mg"] == 1.5
    assert report["diazepam_equivalent_mg_per_day"] == 30.0  # Ashton: 0.5 mg = 10 mg diazepam
    assert report["equivalence_table"] == "ashton"
    assert report["knowledge_version"] == KB.version
    assert set(report) >= {"findings", "not_evaluated", "daily_dose_mg", "knowledge_version"}


def test_mme_is_stated_for_a_fentanyl_patch() -> None:
    report = run(BASE, {"age": 40, "also_taking": ["fentanyl 75 mcg/h"]})
    (finding,) = [f for f in report.findings if f.code == "concurrent-opioid"]
    assert "180 MME/day" in finding.summary  # CDC 2022: 2.4 x 75 mcg/h (cdc-mme test vector)


def test_buprenorphine_is_an_opioid_without_mme() -> None:
    report = run(BASE, {"age": 40, "also_taking": ["buprenorphine 8 mg bid"]})
    (finding,) = [f for f in report.findings if f.code == "concurrent-opioid"]
    assert "MME/day unknown" in finding.summary


def test_unknown_drug_checks_nothing_else() -> None:
    report = run({**BASE, "drug": "etizolam"}, {"age": 80, "also_taking": ["oxycodone 5 mg qid"]})
    assert [f.code for f in report.findings] == ["unknown-drug"]
    assert report.diazepam_equivalent_mg_per_day is None


def test_child_without_weight_is_never_reported_safe() -> None:
    report = run({**BASE, "dose": "5 mg"}, {"age": 6})
    codes = {n.code for n in report.not_evaluated}
    assert "paediatric-dose-needs-weight" in codes
    assert "above-maintenance-range" in codes  # per kg: not evaluated without a weight
    assert "initial-dose-above-recommended" in codes


daily_doses = st.decimals(min_value=Decimal("0.125"), max_value=Decimal(40), places=3)


@settings(max_examples=200)
@given(
    low=daily_doses,
    extra=st.decimals(min_value=Decimal(0), max_value=Decimal(40), places=3),
    indication=st.sampled_from(["seizure-disorder", "panic-disorder"]),
    age=st.integers(min_value=1, max_value=100),
    weight=st.integers(min_value=8, max_value=150),
)
def test_raising_the_dose_never_removes_dose_above_maximum(
    low: Decimal, extra: Decimal, indication: str, age: int, weight: int
) -> None:
    def findings(daily: Decimal) -> set[str]:
        order = {**BASE, "dose": f"{daily:f} mg", "frequency": "qd", "indication": indication}
        report = run(order, {"age": age, "weight": f"{weight} kg"})
        return {f.rule for f in report.findings if f.code == "dose-above-maximum"}

    assert findings(low) <= findings(low + extra)


def test_the_opioid_class_id_the_code_names_is_in_the_knowledge() -> None:
    from benzosafe.clinical.medications import OPIOID
    from benzosafe.knowledge import load

    assert OPIOID in load().depressant_classes
