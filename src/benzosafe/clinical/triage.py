"""Side-effect triage: how urgent is what a patient reports on a benzodiazepine?

:func:`triage` matches each reported phrase against the cited effects of
``knowledge/data/assessment/triage.toml`` (names, synonyms, spelling variants and near-miss
spellings) and returns a :class:`Triage`: the level (``self-care`` < ``contact-prescriber``
< ``urgent-same-day`` < ``emergency``), what matched, what was not recognised, the advice
and the sources. Suicidal thoughts always bring the crisis advice (988) and the emergency
level; an unrecognised phrase is said to be unrecognised and never lowers the level below
``contact-prescriber``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from benzosafe.clinical.findings import citations_to_dict, unique_citations
from benzosafe.errors import InvalidInput
from benzosafe.knowledge import Knowledge
from benzosafe.knowledge.assessment import TRIAGE_LEVELS, Effect, TriageData, TriageLevel
from benzosafe.knowledge.bundle import ProtocolInfo, protocol_fields
from benzosafe.knowledge.models import Citation

MAX_PHRASE_CHARS = 500
# Near-miss matching only for terms this long: short words are too alike ("fit", "fat").
MIN_FUZZY_CHARS = 5


@dataclass(frozen=True)
class MatchedEffect:
    """One effect recognised in what was reported."""

    id: str
    name: str
    group: str
    level: TriageLevel
    reported: str
    how: str  # "exact", "contains" or "spelling"


@dataclass(frozen=True)
class Triage:
    """The triage of one report."""

    level: TriageLevel
    matched: tuple[MatchedEffect, ...]
    unrecognised: tuple[str, ...]
    advice: tuple[str, ...]
    crisis: bool
    sources: tuple[Citation, ...]
    knowledge_version: str
    protocol: ProtocolInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape (CLI ``--json`` and the web API)."""
        return {
            "level": self.level,
            "matched": [
                {
                    "id": m.id,
                    "name": m.name,
                    "group": m.group,
                    "level": m.level,
                    "reported": m.reported,
                    "how": m.how,
                }
                for m in self.matched
            ],
            "unrecognised": list(self.unrecognised),
            "advice": list(self.advice),
            "crisis": self.crisis,
            "sources": citations_to_dict(self.sources),
            "knowledge_version": self.knowledge_version,
            **protocol_fields(self.protocol),
        }


def normalise(text: str, data: TriageData) -> str:
    """Lower case, words only, spelling variants folded."""
    out = " " + re.sub(r"[^a-z0-9']+", " ", text.lower().replace("\u2019", "'")).strip() + " "
    for spelling in data.spelling:
        out = out.replace(f" {spelling.from_} ", f" {spelling.to} ")
        out = re.sub(rf"(?<=\w){re.escape(spelling.from_)}(?=\w)", spelling.to, out)
    return out.strip()


@dataclass(frozen=True)
class _Term:
    text: str
    words: frozenset[str]
    size: int


_TERMS: dict[int, tuple[TriageData, list[tuple[Effect, list[_Term]]]]] = {}


def _terms(data: TriageData) -> list[tuple[Effect, list[_Term]]]:
    """Each effect with its normalised name and synonyms, computed once per data object."""
    cached = _TERMS.get(id(data))
    if cached is None or cached[0] is not data:
        terms = []
        for effect in data.effect:
            texts = [normalise(t, data) for t in [effect.name, *effect.synonyms]]
            terms.append((effect, [_Term(t, frozenset(t.split()), len(t.split())) for t in texts]))
        cached = _TERMS[id(data)] = (data, terms)
    return cached[1]


def _contains(term: _Term, padded: str, words: set[str]) -> bool:
    """The term as a phrase, or every word of a several-word term anywhere ("heart is racing")."""
    if term.size > 1 and term.words <= words:
        return True
    return f" {term.text} " in padded


def _similar(term: _Term, words: list[str], at_least: float) -> float:
    """Best similarity (at least ``at_least``, else 0) of the term to a run of report words."""
    best = 0.0
    for i in range(max(1, len(words) - term.size + 1)):
        matcher = SequenceMatcher(None, term.text, " ".join(words[i : i + term.size]))
        if matcher.real_quick_ratio() >= at_least and matcher.quick_ratio() >= at_least:
            best = max(best, matcher.ratio())
    return best if best >= at_least else 0.0


def _match(phrase: str, data: TriageData) -> list[tuple[Effect, str]]:
    text = normalise(phrase, data)
    padded, words = f" {text} ", text.split()
    word_set = set(words)
    found: list[tuple[Effect, str]] = []
    for effect, terms in _terms(data):
        if any(t.text == text for t in terms):
            found.append((effect, "exact"))
        elif any(_contains(t, padded, word_set) for t in terms):
            found.append((effect, "contains"))
    if found:
        return sorted(found, key=lambda f: f[1] != "exact")
    ratio = float(data.fuzzy_min_ratio)
    best: tuple[float, Effect | None] = (0.0, None)
    for effect, terms in _terms(data):
        for term in terms:
            if len(term.text) < MIN_FUZZY_CHARS or not words:
                continue
            similarity = _similar(term, words, ratio)
            if similarity > best[0]:
                best = (similarity, effect)
    if best[1] is not None:
        return [(best[1], "spelling")]
    return []


def triage(report: Sequence[str], kb: Knowledge) -> Triage:
    """Triage the reported effects (one phrase each, free text)."""
    tdata = kb.assessment.triage
    if isinstance(report, str):
        report = [report]
    phrases = [p.strip() for p in report if isinstance(p, str) and p.strip()]
    if not phrases or len(phrases) != len(report):
        raise InvalidInput("report", "give one or more non-empty descriptions of what happened")
    for phrase in phrases:
        if len(phrase) > MAX_PHRASE_CHARS:
            raise InvalidInput("report", f"a description is limited to {MAX_PHRASE_CHARS} chars")

    matched: list[MatchedEffect] = []
    effects: dict[str, Effect] = {}
    unrecognised: list[str] = []
    for phrase in phrases:
        found = _match(phrase, tdata)
        if not found:
            unrecognised.append(phrase)
        for effect, how in found:
            if effect.id not in effects:
                effects[effect.id] = effect
                matched.append(
                    MatchedEffect(effect.id, effect.name, effect.group, effect.level, phrase, how)
                )

    rank = TRIAGE_LEVELS.index
    levels = [e.level for e in effects.values()]
    if unrecognised:
        levels.append("contact-prescriber")
    level = max(levels, key=rank)
    crisis = any(e.crisis for e in effects.values())
    if crisis:
        level = "emergency"

    advice: list[str] = []
    sources: list[Sequence[Citation]] = []
    if crisis:
        advice.append(tdata.crisis.advice)
        sources.append(tdata.crisis.sources)
    level_advice = next(a for a in tdata.level if a.id == level)
    advice.append(level_advice.advice)
    sources.append(level_advice.sources)
    if unrecognised:
        advice.append(tdata.unrecognised.advice)
        sources.append(tdata.unrecognised.sources)
    sources += [e.sources for e in effects.values()]
    return Triage(
        level=level,
        matched=tuple(matched),
        unrecognised=tuple(unrecognised),
        advice=tuple(advice),
        crisis=crisis,
        sources=unique_citations(*sources),
        knowledge_version=kb.assessment.version,
        protocol=kb.protocol,
    )
