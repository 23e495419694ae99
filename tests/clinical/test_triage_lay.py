"""Triage of lay language (issue #16): the 355 lay phrasings collected from consumer health
pages (tests/clinical/data/lay_phrases.toml), spelling per word, several symptoms in one
sentence, negation, and the measure page kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benzosafe.clinical.triage import MAX_PHRASE_CHARS, triage
from benzosafe.errors import InvalidInput
from benzosafe.exports.triage_measure import (
    held_out,
    measure,
    read_phrases,
    triage_measure_markdown,
)
from benzosafe.knowledge import load

KB = load()
ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "clinical" / "data" / "lay_phrases.toml"
PAGE = ROOT / "docs" / "triage-measure.md"
PHRASES = read_phrases(CORPUS)


def ids(text: str) -> list[str]:
    return [m.id for m in triage([text], KB).matched]


def test_the_list_is_the_collected_one() -> None:
    assert len(PHRASES) >= 300 and all(p.source.startswith("http") for p in PHRASES)
    assert sum(p.level == "emergency" for p in PHRASES) >= 150


def test_every_emergency_phrase_is_an_emergency() -> None:
    m = measure(PHRASES, KB)
    missed = [o.phrase.text for o in m.missed_emergencies]
    assert missed == [], missed
    assert m.recall("emergency") == 1.0


def test_the_held_out_part_is_a_fixed_third_and_every_emergency_in_it_is_found() -> None:
    kept = [p for p in PHRASES if held_out(p.text)]
    # the split is pinned: changing it would hide which phrases the vocabulary was tuned on
    assert (len(kept), sum(p.level == "emergency" for p in kept)) == (133, 62)
    assert measure(kept, KB).recall("emergency") == 1.0


@pytest.mark.parametrize(
    ("text", "effect"),
    [
        ("hard to breathe", "respiratory-depression"),
        ("breathing very slowly", "respiratory-depression"),
        ("not waking up", "unresponsive"),
        ("can't wake him up", "unresponsive"),
        ("fainted", "fainting"),
        ("he took too many of his pills", "overdose"),
        ("she had a seizure", "seizure"),
        ("mum is confused and doesn't know where she is", "confusion-delirium"),
        ("he is hallucinating", "hallucinations-psychosis"),
    ],
)
def test_the_issue_phrases_are_emergencies(text: str, effect: str) -> None:
    result = triage([text], KB)
    assert result.level == "emergency" and effect in ids(text), result.to_dict()


def test_confusion_and_hallucinations_are_emergencies_cited_to_the_label() -> None:
    effects = {e.id: e for e in KB.assessment.triage.effect}
    for effect_id in ("confusion-delirium", "hallucinations-psychosis", "fainting", "overdose"):
        effect = effects[effect_id]
        assert effect.level == "emergency"
        assert {"L1", "PROJECT"} & {c.ref for c in effect.sources}
    assert any(c.ref == "L22" for c in effects["confusion-delirium"].sources)  # overdosage


def test_spelling_is_corrected_per_word_and_each_symptom_is_matched() -> None:
    result = triage(["chest pian and sweating"], KB)
    found = {m.id: m.how for m in result.matched}
    assert found == {"chest-pain": "spelling", "withdrawal-symptoms": "contains"}
    assert result.level == "emergency"
    assert "seizure" in ids("i think i had a siezure")
    assert "unresponsive" in ids("she is unconcious")
    assert "hallucinations-psychosis" in ids("halucinating all night")


def test_english_words_are_not_corrected_into_symptoms() -> None:
    # "breaking" is not "breathing", "could" not "cold", "table" not "tablet"
    assert ids("he keeps breaking things") == []
    assert ids("could be better") == []
    assert triage(["I left it on the table"], KB).unrecognised


def test_a_sentence_with_several_symptoms_matches_each() -> None:
    found = ids("dizzy, drowsy and my lips are turning blue")
    assert {"dizziness", "drowsiness", "respiratory-depression"} <= set(found)


def test_negation_drops_a_symptom_but_never_the_crisis_advice() -> None:
    assert "skin-rash" not in ids("no rash")
    assert "respiratory-depression" not in ids("hives on my arms but my breathing is fine")
    assert "skin-rash" in ids("hives on my arms but my breathing is fine")
    result = triage(["I am not suicidal but I keep thinking about ending my life"], KB)
    assert result.crisis and result.level == "emergency"
    # negation ends at "and": the second item is reported, not denied
    assert "suicidal-thoughts" in ids("no sleep and suicidal thoughts")


def test_the_input_guards_stay() -> None:
    with pytest.raises(InvalidInput):
        triage(["x" * (MAX_PHRASE_CHARS + 1)], KB)
    with pytest.raises(InvalidInput):
        triage([""], KB)


def test_the_measure_page_is_current_and_made_by_the_project_command() -> None:
    expected = triage_measure_markdown(PHRASES, KB, "tests/clinical/data/lay_phrases.toml")
    assert PAGE.read_text(encoding="utf-8") == expected, "stale: run make docs"
    assert "emergency recall: 100.0%" in expected and "Held out" in expected
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "benzosafe.exports.triage_measure",
            "tests/clinical/data/lay_phrases.toml",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == expected
    bad = subprocess.run(
        [sys.executable, "-m", "benzosafe.exports.triage_measure"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and "usage" in bad.stderr
