"""Scoring of the assessment instruments (CIWA-B, BWSQ, SDS, DSM-5) from their cited data.

:func:`score` takes an instrument id and the answers (by item id or in item order) and
returns a :class:`Score`: the total, the band and its interpretation, every item's value,
and the sources. Items, response values, bands and cut-offs all come from
``knowledge/data/assessment/instruments.toml``; nothing clinical is written here. A missing
or out-of-range answer is an :class:`InvalidInput` naming the item and the allowed values.
A draft instrument (unverified parts) never shows a band and always says why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from benzosafe.clinical.findings import citations_to_dict, unique_citations
from benzosafe.errors import InvalidInput
from benzosafe.knowledge import Knowledge
from benzosafe.knowledge.assessment import Band, Instrument
from benzosafe.knowledge.bundle import ProtocolInfo, protocol_fields
from benzosafe.knowledge.models import Citation
from benzosafe.units import MAX_AGE_YEARS

# Values are checked against each item's scale, so anything may come in.
Answers = Mapping[str, object] | Sequence[object]


@dataclass(frozen=True)
class ItemScore:
    """One item: its answer, and whether it counted towards the total."""

    id: str
    text: str
    value: int | None
    counted: bool
    note: str = ""


@dataclass(frozen=True)
class Score:
    """The result of one instrument: total, band, items, interpretation and sources."""

    instrument: str
    name: str
    status: str
    draft_reason: str
    total: int
    max_total: int
    band: str | None
    items: tuple[ItemScore, ...]
    partial: bool
    missing: tuple[str, ...]
    interpretation: str
    cutoff: str | None
    sources: tuple[Citation, ...]
    knowledge_version: str
    protocol: ProtocolInfo | None = None

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape (CLI ``--json`` and the web API)."""
        return {
            "instrument": self.instrument,
            "name": self.name,
            "status": self.status,
            "draft_reason": self.draft_reason or None,
            "total": self.total,
            "max_total": self.max_total,
            "band": self.band,
            "items": [
                {"id": i.id, "value": i.value, "counted": i.counted, "note": i.note or None}
                for i in self.items
            ],
            "partial": self.partial,
            "missing": list(self.missing),
            "interpretation": self.interpretation,
            "cutoff": self.cutoff,
            "sources": citations_to_dict(self.sources),
            "knowledge_version": self.knowledge_version,
            **protocol_fields(self.protocol),
        }


def instrument(instrument_id: str, kb: Knowledge) -> Instrument:
    """The instrument with this id, or InvalidInput naming the ones we have."""
    instruments = kb.assessment.instruments
    found = instruments.get(instrument_id.strip().lower())
    if found is None:
        raise InvalidInput("instrument", f"unknown instrument {instrument_id!r}", instruments)
    return found


def _answer_map(inst: Instrument, answers: Answers) -> dict[str, object]:
    if isinstance(answers, Mapping):
        unknown = sorted(set(answers) - {i.id for i in inst.items})
        if unknown:
            raise InvalidInput(
                f"answers.{unknown[0]}",
                f"not an item of {inst.id}",
                [i.id for i in inst.items],
            )
        return dict(answers)
    if isinstance(answers, str | bytes):
        raise InvalidInput("answers", "give a list of numbers or a mapping of item id to number")
    values = list(answers)
    if len(values) > len(inst.items):
        raise InvalidInput(
            "answers",
            f"{len(values)} answers given; {inst.id} has {len(inst.items)} items",
        )
    return {item.id: value for item, value in zip(inst.items, values, strict=False)}


def _check_age(age: object) -> int:
    if isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= MAX_AGE_YEARS:
        raise InvalidInput("age", f"{age!r} is not an age in whole years (0-{MAX_AGE_YEARS})")
    return age


def _bands_for(
    inst: Instrument, age: int | None, older_from: Decimal
) -> tuple[list[Band], str | None]:
    if "age" not in inst.context:
        return [b for b in inst.bands if b.population == "any"], None
    older = age is not None and Decimal(age) >= older_from
    population = "older-adult" if older else "adult"
    bands = sorted((b for b in inst.bands if b.population == population), key=lambda b: b.low)
    threshold = bands[1].low if len(bands) > 1 else bands[0].low
    if age is None:
        why = f"age not given: the adult cut-off applies; from {older_from} years it is lower"
    elif older:
        why = f"age {age}: the cut-off for adults {older_from} and over"
    else:
        why = f"age {age}: the adult cut-off"
    return bands, f"{threshold} or more ({why})"


def score(
    instrument_id: str,
    answers: Answers,
    kb: Knowledge,
    *,
    age: object = None,
    medical_supervision: object = None,
) -> Score:
    """Score ``answers`` on the instrument ``instrument_id`` from its cited data.

    ``age`` chooses the SDS cut-off; ``medical_supervision`` (required for DSM-5) says
    whether the drug is taken solely as prescribed under appropriate medical supervision,
    in which case tolerance and withdrawal are not counted.
    """
    inst = instrument(instrument_id, kb)
    if age is not None:
        if "age" not in inst.context:
            raise InvalidInput("age", f"not used by {inst.id}")
        age = _check_age(age)
    if "medical_supervision" in inst.context:
        if not isinstance(medical_supervision, bool):
            raise InvalidInput(
                "medical_supervision",
                f"required for {inst.id}: is the drug taken solely as prescribed under "
                "appropriate medical supervision?",
                ["true", "false"],
            )
    elif medical_supervision is not None:
        raise InvalidInput("medical_supervision", f"not used by {inst.id}")

    given = _answer_map(inst, answers)
    items: list[ItemScore] = []
    missing: list[str] = []
    for item in inst.items:
        allowed = inst.scale(item).values
        value = given.get(item.id)
        if value is None:
            if not inst.allows_partial:
                raise InvalidInput(f"answers.{item.id}", "missing", [f"{v}" for v in allowed])
            missing.append(item.id)
            items.append(ItemScore(item.id, item.text, None, False, "not answered"))
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value not in allowed:
            raise InvalidInput(
                f"answers.{item.id}", f"{value!r} is not a valid answer", [f"{v}" for v in allowed]
            )
        counted = not (medical_supervision and item.not_counted_under_medical_supervision)
        note = "" if counted else "not counted: taken as prescribed under medical supervision"
        items.append(ItemScore(item.id, item.text, value, counted, note))

    total = sum(i.value for i in items if i.counted and i.value is not None)
    older_from = kb.populations.older_adult.min_age_years
    bands, cutoff = _bands_for(inst, age, older_from)
    band: Band | None = None
    if inst.status == "draft" and not bands:
        interpretation = f"DRAFT instrument: {inst.draft_reason} Total {total} of {inst.max_total}."
    elif missing:
        interpretation = (
            f"PARTIAL score: {len(missing)} item(s) not answered; the total {total} is a "
            "lower bound and no band is given."
        )
    else:
        band = next(b for b in bands if b.low <= total <= b.high)
        interpretation = band.interpretation
        if inst.status == "draft":  # bands a site protocol gave to a draft instrument
            interpretation += ". The instrument's items are a draft: see draft_reason."
    return Score(
        instrument=inst.id,
        name=inst.name,
        status=inst.status,
        draft_reason=inst.draft_reason,
        total=total,
        max_total=inst.max_total,
        band=band.label if band else None,
        items=tuple(items),
        partial=bool(missing),
        missing=tuple(missing),
        interpretation=interpretation,
        cutoff=cutoff if band else None,
        sources=unique_citations(inst.sources, band.sources if band else []),
        knowledge_version=kb.assessment.version,
        protocol=kb.protocol,
    )
