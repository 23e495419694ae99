"""Knowledge for assessment: instruments, side-effect triage and level-of-care rules.

The data lives in ``knowledge/data/assessment/*.toml``; this module holds its strict
models and :func:`load_assessment_from`, which validates the files once, checks every
citation against ``sources.toml`` and the shape of each instrument (scales exist,
bands cover every possible total without gaps or overlaps), and returns a frozen
:class:`AssessmentKnowledge`.
"""

from __future__ import annotations

from decimal import Decimal
from importlib.abc import Traversable
from typing import Any, Literal

from pydantic import Field

from benzosafe.errors import KnowledgeError
from benzosafe.knowledge.loader import check_citations, read_toml, validated
from benzosafe.knowledge.models import Cited, KnowledgeBase, RuleIdentity, Strict

TriageLevel = Literal["self-care", "contact-prescriber", "urgent-same-day", "emergency"]
TRIAGE_LEVELS: tuple[TriageLevel, ...] = (
    "self-care",
    "contact-prescriber",
    "urgent-same-day",
    "emergency",
)
CareLevel = Literal["outpatient-taper", "intensive-outpatient", "inpatient-medically-managed"]
CARE_LEVELS: tuple[CareLevel, ...] = (
    "outpatient-taper",
    "intensive-outpatient",
    "inpatient-medically-managed",
)
ContextFact = Literal["age", "medical_supervision"]
BandPopulation = Literal["any", "adult", "older-adult"]


class ResponseOption(Strict):
    value: int = Field(ge=0)
    label: str


class ResponseScale(Strict):
    id: str
    note: str = ""
    options: list[ResponseOption] = Field(min_length=2)
    sources: Cited = Field(min_length=1)

    @property
    def values(self) -> tuple[int, ...]:
        return tuple(o.value for o in self.options)


class InstrumentItem(Strict):
    id: str
    text: str
    scale: str
    not_counted_under_medical_supervision: bool = False


class Band(Strict):
    population: BandPopulation = "any"
    low: int = Field(ge=0)
    high: int = Field(ge=0)
    label: str
    interpretation: str
    sources: Cited = Field(min_length=1)


class Instrument(Strict):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str
    purpose: str
    status: Literal["validated", "draft"]
    draft_reason: str = ""
    allows_partial: bool = False
    timeframe: str = ""
    context: list[ContextFact] = Field(default_factory=list)
    sources: Cited = Field(min_length=1)
    scales: list[ResponseScale] = Field(min_length=1)
    items: list[InstrumentItem] = Field(min_length=1)
    bands: list[Band] = Field(default_factory=list)

    def scale(self, item: InstrumentItem) -> ResponseScale:
        return next(s for s in self.scales if s.id == item.scale)

    @property
    def max_total(self) -> int:
        return sum(max(self.scale(i).values) for i in self.items)


class LevelAdvice(Strict):
    id: TriageLevel
    advice: str
    sources: Cited = Field(min_length=1)


class CitedAdvice(Strict):
    advice: str
    sources: Cited = Field(min_length=1)


class Spelling(Strict):
    from_: str = Field(alias="from")
    to: str


class Effect(Strict):
    """A reportable effect: its level, its names (``synonyms``: every word present, in any
    order, within one clause) and lay ``patterns`` (words or ``@class`` slots of the
    lexicon, ``word*`` for a prefix, all within ``window_words`` of one clause)."""

    id: str
    name: str
    group: Literal["common", "less-common", "serious", "overdose"]
    level: TriageLevel
    crisis: bool = False
    synonyms: list[str] = Field(min_length=1)
    patterns: list[str] = Field(default_factory=list)
    sources: Cited = Field(min_length=1)


class TriageData(Strict):
    window_words: int = Field(ge=1, le=20)
    negation_words: int = Field(ge=0, le=5)
    english_min_count: int = Field(ge=0)
    lexicon: dict[str, list[str]] = Field(default_factory=dict)
    stop_words: list[str] = Field(default_factory=list)
    level: list[LevelAdvice]
    crisis: CitedAdvice
    unrecognised: CitedAdvice
    spelling: list[Spelling] = Field(default_factory=list)
    effect: list[Effect] = Field(min_length=1)


class BaseLevel(RuleIdentity):
    """A level-of-care rule: stable id, version, finding code, level it sets, cited summary."""

    code: str
    level: CareLevel
    summary: str = Field(max_length=140)
    detail: str = ""


class DeBand(Strict):
    """Low: up to low_max_mg a day; moderate: up to moderate_max_mg; high: above."""

    low_max_mg: Decimal
    moderate_max_mg: Decimal


class DrugBand(DeBand):
    drug: str


class DoseBands(Strict):
    note: str
    sources: Cited = Field(min_length=1)
    diazepam_equivalent: DeBand
    per_drug: list[DrugBand]


class WithdrawalRisk(Strict):
    sources: Cited = Field(min_length=1)
    max_days_per_week_rare: int
    short_months: Decimal
    long_months: Decimal
    rare: str
    under_short: str
    short_low: str
    short_higher: str
    long: str


LevelFact = Literal[
    "suicidality",
    "severe_or_complicated_withdrawal",
    "withdrawal_complication_history",
    "alcohol_or_sedative_use",
    "opioid_use",
    "complicating_condition",
    "failed_outpatient_tapers",
    "no_support_at_home",
    "withdrawal_expected",
    "older_adult",
]


class CareCase(Strict):
    name: str
    fires: bool
    intake: dict[str, Any]


class CareRule(BaseLevel):
    """A rule that can raise the level, with the fact it reads and its own cases."""

    fact: LevelFact
    min_count: int = Field(default=1, ge=1)
    title: str
    if_text: str
    cases: list[CareCase] = Field(min_length=2)


class Alongside(Strict):
    """Treatment the guideline recommends alongside the taper, at every level of care."""

    id: str
    text: str
    sources: Cited = Field(min_length=1)


class LevelOfCareData(Strict):
    never_abrupt: str
    never_abrupt_sources: Cited = Field(min_length=1)
    alongside: list[Alongside] = Field(default_factory=list)
    base: BaseLevel
    dose_bands: DoseBands
    withdrawal_risk: WithdrawalRisk
    rule: list[CareRule] = Field(min_length=1)


class AssessmentKnowledge(Strict):
    """Everything the assessment core needs, validated."""

    version: str
    instruments: dict[str, Instrument]
    triage: TriageData
    level_of_care: LevelOfCareData


def _check_instrument(inst: Instrument) -> list[str]:
    problems: list[str] = []
    where = f"instrument {inst.id}"
    scale_ids = [s.id for s in inst.scales]
    if len(set(scale_ids)) != len(scale_ids):
        problems.append(f"{where}: duplicate scale ids")
    item_ids = [i.id for i in inst.items]
    if len(set(item_ids)) != len(item_ids):
        problems.append(f"{where}: duplicate item ids")
    for item in inst.items:
        if item.scale not in scale_ids:
            problems.append(f"{where}: item {item.id} uses unknown scale {item.scale!r}")
    if problems:
        return problems
    if inst.status == "draft" and not inst.draft_reason:
        problems.append(f"{where}: a draft instrument needs a draft_reason")
    if inst.status == "validated" and not inst.bands:
        problems.append(f"{where}: a validated instrument needs bands")
    if "age" in inst.context and {b.population for b in inst.bands} != {"adult", "older-adult"}:
        problems.append(f"{where}: an age-dependent instrument needs adult and older-adult bands")
    for population in sorted({b.population for b in inst.bands}):
        bands = sorted((b for b in inst.bands if b.population == population), key=lambda b: b.low)
        expected = 0
        for band in bands:
            if band.low != expected or band.high < band.low:
                problems.append(f"{where}: {population} bands leave a gap or overlap at {band.low}")
            expected = band.high + 1
        if expected != inst.max_total + 1:
            problems.append(f"{where}: {population} bands do not end at {inst.max_total}")
    return problems


def _check(data: AssessmentKnowledge, kb: KnowledgeBase) -> None:
    problems: list[str] = []
    for inst in data.instruments.values():
        problems += _check_instrument(inst)
    if sorted(a.id for a in data.triage.level) != sorted(TRIAGE_LEVELS):
        problems.append("triage: advice needed for exactly the levels " + ", ".join(TRIAGE_LEVELS))
    effect_ids = [e.id for e in data.triage.effect]
    if len(set(effect_ids)) != len(effect_ids):
        problems.append("triage: duplicate effect ids")
    if not any(e.crisis for e in data.triage.effect):
        problems.append("triage: no effect carries the crisis advice")
    if "neg" not in data.triage.lexicon:
        problems.append("triage: the lexicon needs a 'neg' class (negation words)")
    for effect in data.triage.effect:
        for pattern in effect.patterns:
            for slot in pattern.split():
                if slot.startswith("@") and slot[1:] not in data.triage.lexicon:
                    problems.append(f"triage: {effect.id} pattern {pattern!r}: no class {slot}")
    for drug_band in data.level_of_care.dose_bands.per_drug:
        if drug_band.drug not in kb.benzodiazepines:
            problems.append(f"level of care: dose band for unknown drug {drug_band.drug!r}")
    rule_ids = [r.id for r in data.level_of_care.rule]
    if len(set(rule_ids)) != len(rule_ids):
        problems.append("level of care: duplicate rule ids")
    for rule in data.level_of_care.rule:
        if not any(c.fires for c in rule.cases) or all(c.fires for c in rule.cases):
            problems.append(f"rule {rule.id}: needs a case that fires and one that stays silent")
    if problems:
        raise KnowledgeError("assessment data is inconsistent:\n  " + "\n  ".join(problems))
    check_citations(data, kb, "assessment data")


def load_assessment_from(root: Traversable, kb: KnowledgeBase) -> AssessmentKnowledge:
    """Load and validate ``assessment/*.toml`` below ``root``."""
    folder = root.joinpath("assessment")
    raw = read_toml(folder.joinpath("instruments.toml"))
    items = raw.pop("instrument", None)
    if raw or not isinstance(items, list):
        raise KnowledgeError("assessment/instruments.toml: expected only [[instrument]] tables")
    instruments: dict[str, Instrument] = {}
    for body in items:
        inst = validated(Instrument, body, f"assessment/instruments.toml {body.get('id')}")
        if inst.id in instruments:
            raise KnowledgeError(f"duplicate instrument id {inst.id!r}")
        instruments[inst.id] = inst
    data = AssessmentKnowledge(
        version=kb.version,
        instruments=instruments,
        triage=validated(
            TriageData, read_toml(folder.joinpath("triage.toml")), "assessment/triage.toml"
        ),
        level_of_care=validated(
            LevelOfCareData,
            read_toml(folder.joinpath("level_of_care.toml")),
            "assessment/level_of_care.toml",
        ),
    )
    _check(data, kb)
    return data
