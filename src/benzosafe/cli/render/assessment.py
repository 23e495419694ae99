"""Plain-text rendering of scores, triage and level-of-care recommendations for a terminal."""

from __future__ import annotations

from collections.abc import Sequence

from benzosafe.cli.render import JUDGEMENT, cited, knowledge_line
from benzosafe.clinical.findings import SourceRef
from benzosafe.clinical.instruments import Score
from benzosafe.clinical.level_of_care import Recommendation
from benzosafe.clinical.triage import Triage
from benzosafe.knowledge.models import Citation


def _refs(sources: Sequence[Citation | SourceRef]) -> str:
    return cited((c.ref, c.section) for c in sources)


def score_text(result: Score) -> str:
    lines = [f"{result.name} ({result.instrument})"]
    if result.status == "draft":
        lines.append(f"DRAFT: {result.draft_reason}")
    band = result.band or "no band"
    lines.append(f"total {result.total} of {result.max_total}: {band}")
    if result.partial:
        lines.append(f"PARTIAL: not answered: {', '.join(result.missing)}")
    if result.cutoff:
        lines.append(f"cut-off applied: {result.cutoff}")
    lines.append(result.interpretation)
    for item in result.items:
        mark = "" if item.counted else f"  ({item.note})"
        value = "-" if item.value is None else str(item.value)
        lines.append(f"  {item.id:>10}  {value}  {item.text}{mark}")
    lines += [
        f"sources: {_refs(result.sources)}",
        knowledge_line(result.knowledge_version, result.protocol),
    ]
    lines.append(JUDGEMENT)
    return "\n".join(lines)


def triage_text(result: Triage) -> str:
    lines = [f"level: {result.level.upper()}"]
    lines += [f"  {advice}" for advice in result.advice]
    for m in result.matched:
        lines.append(f"matched: {m.name} [{m.level}] from {m.reported!r} ({m.how})")
    for phrase in result.unrecognised:
        lines.append(f"NOT RECOGNISED: {phrase!r}")
    lines += [
        f"sources: {_refs(result.sources)}",
        knowledge_line(result.knowledge_version, result.protocol),
    ]
    lines.append(JUDGEMENT)
    return "\n".join(lines)


def recommendation_text(result: Recommendation) -> str:
    lines = [f"level of care: {result.level.upper()}", result.taper_note]
    for a in result.alongside:
        lines.append(f"alongside the taper: {a.text} ({_refs(a.sources)})")
    if result.diazepam_equivalent:
        lines.append(f"diazepam equivalent: {result.diazepam_equivalent}")
    if result.dose_band:
        lines.append(f"dose band: {result.dose_band} ({result.dose_band_basis})")
    if result.withdrawal_risk:
        lines.append(f"withdrawal risk: {result.withdrawal_risk}")
    lines.append("reasons:")
    for r in result.reasons:
        lines.append(f"  [{r.level}] {r.summary}")
        if r.detail:
            lines.append(f"      {r.detail}")
        lines.append(f"      {r.rule} v{r.rule_version}; {_refs(r.sources)}")
    for n in result.not_evaluated:
        lines.append(f"not evaluated ({n.rule}): {n.reason}")
    if result.not_assessed:
        lines.append("not assessed: " + ", ".join(result.not_assessed))
    lines += [f"would change: {w}" for w in result.would_change]
    lines += [knowledge_line(result.knowledge_version, result.protocol), JUDGEMENT]
    return "\n".join(lines)
