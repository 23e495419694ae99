"""Level of care: every rule's own cases, each raising rule, a plain outpatient case, errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benzosafe.clinical.level_of_care import INTAKE_FIELDS, SUBSTANCES, recommend_level_of_care
from benzosafe.errors import BenzosafeError, InvalidInput, UnitError, UnknownDrug
from benzosafe.knowledge import load
from benzosafe.knowledge.assessment import CARE_LEVELS

KB = load()
RULES = KB.assessment.level_of_care.rule
LOW_RISK: dict[str, Any] = {
    "drug": "clonazepam",
    "daily_dose": "0.5 mg/day",
    "duration_of_use_months": 6,
    "days_per_week": 7,
    "withdrawal_seizure_history": False,
    "withdrawal_delirium_history": False,
    "other_substances": [],
    "suicidality": False,
    "pregnant": False,
    "frail": False,
    "age": 45,
    "support_at_home": True,
    "failed_outpatient_tapers": 0,
    "severe_or_complicated_withdrawal": False,
}


@pytest.mark.parametrize(
    ("rule_id", "case"),
    [(rule.id, case) for rule in RULES for case in rule.cases],
    ids=[f"{rule.id}:{case.name}" for rule in RULES for case in rule.cases],
)
def test_rule_cases(rule_id: str, case: Any) -> None:
    result = recommend_level_of_care(case.intake, KB)
    assert (rule_id in [r.rule for r in result.reasons]) == case.fires


def test_plain_low_risk_case_is_an_outpatient_taper() -> None:
    result = recommend_level_of_care(LOW_RISK, KB)
    assert result.level == "outpatient-taper"
    assert [r.rule for r in result.reasons] == ["LOC-BASE", "LOC-WITHDRAWAL-RISK"]
    assert result.not_assessed == ()
    assert result.dose_band == "low"
    assert (
        result.diazepam_equivalent is not None and "10 mg/day (ashton" in result.diazepam_equivalent
    )
    assert result.would_change  # says what would raise it
    assert "Never stop abruptly" in result.taper_note


RAISING = [
    ({"suicidality": True}, "LOC-IMMINENT-HARM", "inpatient-medically-managed"),
    ({"severe_or_complicated_withdrawal": True}, "LOC-SEVERE-WITHDRAWAL",
     "inpatient-medically-managed"),
    ({"withdrawal_seizure_history": True}, "LOC-WITHDRAWAL-COMPLICATION-HISTORY",
     "intensive-outpatient"),
    ({"withdrawal_delirium_history": True}, "LOC-WITHDRAWAL-COMPLICATION-HISTORY",
     "intensive-outpatient"),
    ({"other_substances": ["alcohol"]}, "LOC-SEDATIVE-ALCOHOL-USE", "intensive-outpatient"),
    ({"other_substances": ["other-sedatives"]}, "LOC-SEDATIVE-ALCOHOL-USE",
     "intensive-outpatient"),
    ({"other_substances": ["opioids"]}, "LOC-OPIOID-CO-USE", "intensive-outpatient"),
    ({"pregnant": True}, "LOC-COMPLICATING-CONDITION", "intensive-outpatient"),
    ({"frail": True}, "LOC-COMPLICATING-CONDITION", "intensive-outpatient"),
    ({"failed_outpatient_tapers": 2}, "LOC-FAILED-OUTPATIENT", "intensive-outpatient"),
    ({"support_at_home": False}, "LOC-NO-SUPPORT", "intensive-outpatient"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "rule_id", "level"), RAISING)
def test_each_rule_that_raises_the_level(change: dict[str, Any], rule_id: str, level: str) -> None:
    result = recommend_level_of_care({**LOW_RISK, **change}, KB)
    assert result.level == level
    reason = next(r for r in result.reasons if r.rule == rule_id)
    assert reason.level == level and reason.sources
    assert any(rule_id in w for w in result.would_change)  # "the level is set by ..."


def test_project_rule_cites_clinical_consensus() -> None:
    result = recommend_level_of_care({**LOW_RISK, "withdrawal_seizure_history": True}, KB)
    reason = next(r for r in result.reasons if r.rule == "LOC-WITHDRAWAL-COMPLICATION-HISTORY")
    assert any(c.ref == "PROJECT" and "clinical consensus" in c.section for c in reason.sources)


def test_inpatient_wins_over_intensive_outpatient() -> None:
    result = recommend_level_of_care(
        {**LOW_RISK, "suicidality": True, "other_substances": ["alcohol"]}, KB
    )
    assert result.level == "inpatient-medically-managed"


@pytest.mark.parametrize(
    ("dose", "band"),
    [("0.5 mg/day", "low"), ("0.75 mg/day", "moderate"), ("1.5 mg/day", "moderate"),
     ("2 mg/day", "high"), ("500 mcg/day", "low")],
)  # fmt: skip
def test_clonazepam_dose_bands_as_the_guideline_prints_them(dose: str, band: str) -> None:
    result = recommend_level_of_care({"drug": "clonazepam", "daily_dose": dose}, KB)
    assert result.dose_band == band
    assert result.dose_band_basis is not None and "as printed" in result.dose_band_basis


def test_other_drugs_use_diazepam_equivalent_bands() -> None:
    result = recommend_level_of_care({"drug": "diazepam", "daily_dose": "15 mg/day"}, KB)
    assert result.dose_band == "moderate"
    assert "diazepam-equivalent" in (result.dose_band_basis or "")
    result = recommend_level_of_care({"drug": "diazepam", "daily_dose": "16 mg/day"}, KB)
    assert result.dose_band == "high"


@pytest.mark.parametrize(
    ("months", "dose", "days", "expected"),
    [(0.5, "2 mg/day", None, False), (2, "0.5 mg/day", None, False),
     (2, "1 mg/day", None, True), (3, "0.25 mg/day", None, True),
     (24, "2 mg/day", 3, False)],
)  # fmt: skip
def test_withdrawal_risk_follows_table_2(
    months: float, dose: str, days: int | None, expected: bool
) -> None:
    intake: dict[str, Any] = {
        "drug": "clonazepam",
        "daily_dose": dose,
        "duration_of_use_months": months,
    }
    if days is not None:
        intake["days_per_week"] = days
    result = recommend_level_of_care(intake, KB)
    assert ("LOC-WITHDRAWAL-RISK" in [r.rule for r in result.reasons]) == expected
    assert result.withdrawal_risk


def test_missing_facts_are_listed_not_assumed() -> None:
    result = recommend_level_of_care({}, KB)
    assert result.level == "outpatient-taper"
    assert set(result.not_assessed) == set(INTAKE_FIELDS) - {"ciwa_b_total"}
    assert any("not assessed now" in w for w in result.would_change)
    assert any(n.rule == "LOC-WITHDRAWAL-RISK" for n in result.not_evaluated)


def test_ciwa_b_total_is_recorded_but_never_used_as_a_band() -> None:
    result = recommend_level_of_care({**LOW_RISK, "ciwa_b_total": 70}, KB)
    assert result.level == "outpatient-taper"
    assert any(n.rule == "CIWA-B" and "not used" in n.reason for n in result.not_evaluated)


@pytest.mark.parametrize(
    ("intake", "error", "field"),
    [
        ({"surprise": 1}, InvalidInput, "surprise"),
        ({"suicidality": "yes"}, InvalidInput, "suicidality"),
        ({"age": -1}, InvalidInput, "age"),
        ({"age": True}, InvalidInput, "age"),
        ({"days_per_week": 8}, InvalidInput, "days_per_week"),
        ({"duration_of_use_months": "a while"}, InvalidInput, "duration_of_use_months"),
        ({"duration_of_use_months": -2}, InvalidInput, "duration_of_use_months"),
        ({"other_substances": ["wine"]}, InvalidInput, "other_substances"),
        ({"other_substances": "alcohol"}, InvalidInput, "other_substances"),
        ({"ciwa_b_total": 81}, InvalidInput, "ciwa_b_total"),
        ({"drug": "aspirin"}, UnknownDrug, "drug"),
        ({"drug": "clonazepam", "daily_dose": "2"}, UnitError, "daily_dose"),
        ({"daily_dose": "2 mg"}, UnitError, "daily_dose"),
    ],
)
def test_bad_intake_names_the_field(
    intake: dict[str, Any], error: type[BenzosafeError], field: str
) -> None:
    with pytest.raises(error) as exc:
        recommend_level_of_care(intake, KB)
    assert exc.value.field == field


def test_json_shape() -> None:
    shape = recommend_level_of_care(LOW_RISK, KB).to_dict()
    assert {"level", "reasons", "not_assessed"} <= set(shape)
    assert {"code", "rule", "sources"} <= set(shape["reasons"][0])


@settings(max_examples=80, deadline=None)
@given(
    st.fixed_dictionaries(
        {},
        optional={
            "suicidality": st.booleans(),
            "pregnant": st.booleans(),
            "frail": st.booleans(),
            "support_at_home": st.booleans(),
            "withdrawal_seizure_history": st.booleans(),
            "withdrawal_delirium_history": st.booleans(),
            "severe_or_complicated_withdrawal": st.booleans(),
            "other_substances": st.lists(st.sampled_from(SUBSTANCES), unique=True),
            "age": st.integers(0, 110),
            "failed_outpatient_tapers": st.integers(0, 5),
            "duration_of_use_months": st.integers(0, 240),
        },
    )
)
def test_level_is_the_highest_reason_and_never_abrupt(intake: dict[str, Any]) -> None:
    result = recommend_level_of_care(intake, KB)
    assert result.level == max((r.level for r in result.reasons), key=CARE_LEVELS.index)
    assert "abrupt" in result.taper_note.lower()
    assert all(r.sources for r in result.reasons)


def test_an_unknown_frequency_states_the_regular_use_the_risk_assumes() -> None:
    rare = KB.assessment.level_of_care.withdrawal_risk.max_days_per_week_rare
    known = recommend_level_of_care(LOW_RISK, KB)
    unknown = recommend_level_of_care(
        {k: v for k, v in LOW_RISK.items() if k != "days_per_week"}, KB
    )
    assumption = f"Assumes use on {rare + 1} or more days a week."
    assert unknown.withdrawal_risk is not None and assumption in unknown.withdrawal_risk
    assert known.withdrawal_risk is not None and "Assumes" not in known.withdrawal_risk
