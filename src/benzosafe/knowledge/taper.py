"""Taper knowledge: the cited pace, bounds and rules of supervised taper plans.

Reads ``knowledge/data/taper.toml`` into strict models and checks
that every citation names a source of ``sources.toml``. The planner
(:mod:`benzosafe.clinical.taper`) takes every number it uses from here.
"""

from __future__ import annotations

from decimal import Decimal
from importlib.abc import Traversable
from typing import Any, Literal

from pydantic import Field

from benzosafe.errors import KnowledgeError
from benzosafe.knowledge.loader import check_citations, read_toml, validated
from benzosafe.knowledge.models import Cited, KnowledgeBase, RuleHeader, Strict

TaperRuleKind = Literal[
    "window-bound", "tail-step", "fixed-share", "short-course", "rounded-step", "starting-pace"
]


class Pace(Strict):
    percent: Decimal = Field(gt=0, lt=100)
    every_days: int = Field(ge=1)
    sources: Cited = Field(min_length=1)


class SwitchSettings(Strict):
    total_days: int = Field(ge=1)
    sources: Cited = Field(min_length=1)


class AdjustSettings(Strict):
    default_action: Literal["hold", "slow"]
    sources: Cited = Field(min_length=1)


class PatientText(Strict):
    call_now: str
    never: str
    sources: Cited = Field(min_length=1)


class LabelPanic(Strict):
    drug: str
    reduce_per_dose_mg: Decimal = Field(gt=0)
    doses_per_day: int = Field(ge=1)
    every_days: int = Field(ge=1)
    sources: Cited = Field(min_length=1)


class TaperCase(Strict):
    name: str
    fires: bool
    input: dict[str, Any]


class TaperRule(RuleHeader):
    """A cited taper rule with its cases that fire and stay silent."""

    kind: TaperRuleKind
    cases: list[TaperCase] = Field(min_length=2)


class TaperKnowledge(Strict):
    version: str
    pace: Pace
    switch: SwitchSettings
    adjust: AdjustSettings
    patient: PatientText
    label_panic: LabelPanic
    rules: dict[str, TaperRule]

    def rule(self, kind: TaperRuleKind) -> TaperRule:
        """The one rule of a kind (the data holds exactly one of each)."""
        for rule in self.rules.values():
            if rule.kind == kind:
                return rule
        raise KnowledgeError(f"taper.toml: no rule of kind {kind!r}")  # pragma: no cover


def parse_taper(data: dict[str, Any], where: str = "taper.toml") -> TaperKnowledge:
    """Validate the raw taper data into :class:`TaperKnowledge` (no cross-checks)."""
    raw = dict(data)
    rules: dict[str, TaperRule] = {}
    for item in raw.pop("rule", []):
        rule = validated(TaperRule, item, f"{where} rule {item.get('id')}")
        if rule.id in rules:
            raise KnowledgeError(f"{where}: duplicate rule id {rule.id!r}")
        if not any(c.fires for c in rule.cases) or all(c.fires for c in rule.cases):
            raise KnowledgeError(
                f"{where} rule {rule.id}: needs a case that fires and one that stays silent"
            )
        rules[rule.id] = rule
    kinds = [r.kind for r in rules.values()]
    if len(set(kinds)) != len(kinds):
        raise KnowledgeError(f"{where}: one rule per kind expected, got {sorted(kinds)}")
    return validated(TaperKnowledge, {**raw, "rules": rules}, where)


def load_taper_from(root: Traversable, kb: KnowledgeBase) -> TaperKnowledge:
    """Load ``taper.toml`` below ``root`` and check its citations and drug against ``kb``."""
    taper = parse_taper(read_toml(root.joinpath("taper.toml")))
    check_citations(taper, kb, "taper.toml")
    if taper.label_panic.drug not in kb.benzodiazepines:
        raise KnowledgeError(f"taper.toml: unknown drug {taper.label_panic.drug!r}")
    return taper
