"""Side-effect triage: how urgent is what a patient reports on a benzodiazepine?

:func:`triage` matches each reported phrase against the cited effects of
``knowledge/data/assessment/triage.toml`` word by word (names, synonyms and lay patterns,
spelling corrected per word, every symptom of a sentence; see :mod:`triage_match`) and
returns a :class:`Triage`: the level (``self-care`` < ``contact-prescriber``
< ``urgent-same-day`` < ``emergency``), what matched, what was not recognised, the advice
and the sources. Suicidal thoughts always bring the crisis advice (988) and the emergency
level; an unrecognised phrase is said to be unrecognised and never lowers the level below
``contact-prescriber``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benzosafe.clinical.findings import citations_to_dict, unique_citations
from benzosafe.clinical.triage_match import match
from benzosafe.errors import InvalidInput
from benzosafe.knowledge import Knowledge
from benzosafe.knowledge.assessment import TRIAGE_LEVELS, Effect, TriageLevel
from benzosafe.knowledge.bundle import ProtocolInfo, protocol_fields
from benzosafe.knowledge.models import Citation

MAX_PHRASE_CHARS = 500


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

    english = kb.english_word_counts()
    matched: list[MatchedEffect] = []
    effects: dict[str, Effect] = {}
    unrecognised: list[str] = []
    for phrase in phrases:
        found = match(phrase, tdata, english)
        if not found:
            unrecognised.append(phrase)
        for hit in found:
            effect, how = hit.effect, hit.how
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
