"""Side-effect triage: every serious effect of the seed, synonyms, spellings, unrecognised input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benzosafe.clinical.triage import triage
from benzosafe.errors import InvalidInput
from benzosafe.knowledge import load
from benzosafe.knowledge.assessment import TRIAGE_LEVELS

KB = load()
RANK = TRIAGE_LEVELS.index


# The seed's "rare but serious" list: each is at least urgent, never self-care.
@pytest.mark.parametrize(
    ("reported", "effect", "level"),
    [
        ("changes in skin colour", "skin-color-change", "urgent-same-day"),
        ("chest pain", "chest-pain", "emergency"),
        ("skin numbness", "skin-numbness", "urgent-same-day"),
        ("irregular heartbeat", "irregular-heartbeat", "urgent-same-day"),
        ("partial paralysis", "partial-paralysis", "emergency"),
        ("skin rash", "skin-rash", "urgent-same-day"),
        ("suicidal thoughts", "suicidal-thoughts", "emergency"),
    ],
)
def test_every_serious_effect_of_the_seed(reported: str, effect: str, level: str) -> None:
    result = triage([reported], KB)
    assert [m.id for m in result.matched] == [effect]
    assert result.level == level
    assert not result.unrecognised
    assert any(c.ref == "SEED" for c in result.sources)


@pytest.mark.parametrize(
    ("reported", "effect"),
    [
        # synonyms and everyday words
        ("my heart is racing", "irregular-heartbeat"),
        ("palpitations", "irregular-heartbeat"),
        ("pins and needles", "skin-numbness"),
        ("hives", "skin-rash"),
        ("I want to die", "suicidal-thoughts"),
        ("thinking of ending my life", "suicidal-thoughts"),
        ("can't wake him up", "unresponsive"),
        ("slow shallow breathing", "respiratory-depression"),
        ("lips turning blue", "respiratory-depression"),
        ("had a fit", "seizure"),
        ("sleepy all day", "drowsiness"),
        # spelling variants and typos
        ("changes in skin color", "skin-color-change"),
        ("skin discolouration", "skin-color-change"),
        ("irregular heart beat", "irregular-heartbeat"),
        ("iregular heartbeat", "irregular-heartbeat"),
        ("chest pian", "chest-pain"),
        ("partial paralisis", "partial-paralysis"),
        ("skin rashes", "skin-rash"),
        ("dizzyness", "dizziness"),
        ("Suicidal Thoughts!", "suicidal-thoughts"),
        ("CHEST   PAIN", "chest-pain"),
        ("drowsyness", "drowsiness"),
    ],
)
def test_synonyms_and_spelling_variants(reported: str, effect: str) -> None:
    result = triage([reported], KB)
    assert effect in [m.id for m in result.matched], result.to_dict()
    assert not result.unrecognised


@pytest.mark.parametrize("reported", ["suicidal thoughts", "I want to kill myself", "self-harm"])
def test_suicidal_thoughts_always_bring_988_and_the_emergency_level(reported: str) -> None:
    result = triage(["sleepy", reported, "runny nose"], KB)
    assert result.level == "emergency" and result.crisis
    assert "988" in result.advice[0]
    assert any(c.ref == "CRISIS988" for c in result.sources)


def test_unrecognised_input_is_said_and_never_called_harmless() -> None:
    result = triage(["purple toes"], KB)
    assert result.unrecognised == ("purple toes",)
    assert result.level == "contact-prescriber"
    text = " ".join(result.advice).lower()
    assert "not recognised" in text and "does not mean it is harmless" in text
    assert "nothing to worry" not in text


def test_unrecognised_next_to_a_mild_effect_still_contacts_the_prescriber() -> None:
    result = triage(["drowsy", "strange feeling in my ears xyz"], KB)
    assert result.level == "contact-prescriber"
    assert [m.id for m in result.matched] == ["drowsiness"]


def test_the_worst_effect_sets_the_level_and_every_one_is_listed() -> None:
    result = triage(["chest pain", "dizzy"], KB)
    assert result.level == "emergency"
    assert [m.id for m in result.matched] == ["chest-pain", "dizziness"]
    assert set(result.to_dict()) >= {"level", "matched", "unrecognised", "advice", "sources"}


def test_common_effect_alone_is_self_care_with_advice() -> None:
    result = triage(["drowsiness"], KB)
    assert result.level == "self-care"
    assert "drive" in result.advice[0]


@pytest.mark.parametrize("report", [[], [""], ["  "], ["x" * 501]])
def test_empty_or_absurd_reports_are_invalid(report: list[str]) -> None:
    with pytest.raises(InvalidInput) as exc:
        triage(report, KB)
    assert exc.value.field == "report"


def test_every_effect_is_found_by_its_own_synonyms() -> None:
    for effect in KB.assessment.triage.effect:
        for synonym in effect.synonyms:
            result = triage([synonym], KB)
            assert effect.id in [m.id for m in result.matched], synonym
            assert RANK(result.level) >= RANK(effect.level)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=60).filter(str.strip), min_size=1, max_size=4))
def test_any_report_gets_a_level_advice_and_sources(report: list[str]) -> None:
    result = triage(report, KB)
    assert result.level in TRIAGE_LEVELS and result.advice and result.sources
    if result.unrecognised:
        assert RANK(result.level) >= RANK("contact-prescriber")
    if any(m.id == "suicidal-thoughts" for m in result.matched):
        assert result.level == "emergency"
