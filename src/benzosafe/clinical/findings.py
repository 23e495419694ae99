"""The result vocabulary shared by every part of the clinical core.

A :class:`Finding` is one thing a rule found (stable code, :data:`Severity`, one-line summary,
detail, rule id and version, and its sources as :class:`SourceRef`); a :class:`NotEvaluated`
is a rule that could not be evaluated, with the reason, so that it is never taken as safe.
The prescription check, the taper planner and the level-of-care recommendation all report
in these terms. The helpers resolve a rule's citations against the knowledge's sources and
write citations in the short ``{ref, section}`` shape of the assessment outputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from benzosafe.knowledge.values import Severity

if TYPE_CHECKING:
    from benzosafe.knowledge.models import Citation, KnowledgeBase

__all__ = [
    "SEVERITY_RANK",
    "Finding",
    "NotEvaluated",
    "Severity",
    "SourceRef",
    "citations_to_dict",
    "source_refs",
    "unique_citations",
]

SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class SourceRef:
    """A citation resolved for display: the source id, title, section and URL."""

    ref: str
    title: str
    section: str
    url: str

    def to_dict(self) -> dict[str, str]:
        return {"ref": self.ref, "title": self.title, "section": self.section, "url": self.url}


@dataclass(frozen=True, slots=True)
class Finding:
    """What one rule found: code, severity, summary (< 140 characters), detail, rule, sources."""

    code: str
    severity: Severity
    summary: str
    detail: str
    rule: str
    rule_version: int
    sources: tuple[SourceRef, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "severity": self.severity,
            "summary": self.summary,
            "detail": self.detail,
            "rule": self.rule,
            "rule_version": self.rule_version,
            "sources": [s.to_dict() for s in self.sources],
        }


@dataclass(frozen=True, slots=True)
class NotEvaluated:
    """A rule that could not be evaluated: its finding code, the rule and why."""

    code: str
    rule: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "rule": self.rule, "reason": self.reason}


def source_refs(kb: KnowledgeBase, citations: Iterable[Citation]) -> tuple[SourceRef, ...]:
    """The citations resolved against the knowledge's sources (title and URL added)."""
    return tuple(
        SourceRef(c.ref, kb.sources[c.ref].title, c.section, kb.sources[c.ref].url)
        for c in citations
    )


def citations_to_dict(sources: Iterable[Citation | SourceRef]) -> list[dict[str, str]]:
    """Citations in the short public shape of the assessment outputs: ref and section."""
    return [{"ref": c.ref, "section": c.section} for c in sources]


def unique_citations(*groups: Sequence[Citation]) -> tuple[Citation, ...]:
    """Citations in first-seen order, each once."""
    seen: dict[tuple[str, str], Citation] = {}
    for group in groups:
        for citation in group:
            seen.setdefault((citation.ref, citation.section), citation)
    return tuple(seen.values())
