"""The values of a taper plan: forms, doses, steps, strategy, request, plan and history.

A :class:`TaperRequest` says what the planner is asked for (drug, daily dose and its split
over the day, start, :class:`Strategy`, the :class:`DoseForm` s the patient has, an optional
switch to diazepam); a :class:`TaperPlan` is what it makes: :class:`TaperStep` s in date
order, each with its :class:`Administration` s and what to dispense, the bounds it was made
within, its findings and its :class:`PlanVersion` history. Frozen values, no knowledge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_CEILING, Decimal
from typing import Literal

from benzosafe.clinical.findings import Finding, SourceRef
from benzosafe.knowledge.bundle import ProtocolInfo
from benzosafe.units import format_mg

StrategyKind = Literal["percent", "amount", "steps", "label-panic"]
StepKind = Literal["start", "reduce", "switch", "hold", "stop"]
Action = Literal["hold", "slow"]

TIMES_OF_DAY = ("morning", "midday", "afternoon", "evening", "night")
HUNDRED = Decimal(100)
TIMES = "\u00d7"  # multiplication sign, as in "1 x 0.5 mg tablet"
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class DoseForm:
    """One thing the patient has: a tablet or ODT strength, or a liquid measured in steps."""

    drug: str
    form: Literal["tablet", "odt", "liquid"]
    strength_mg: Decimal  # per tablet, or per mL for a liquid
    scored: bool = False
    step_ml: Decimal | None = None  # liquid: the smallest volume measured

    @property
    def label(self) -> str:
        if self.form == "liquid":
            return f"{format_mg(self.strength_mg)}/mL oral liquid"
        name = "ODT" if self.form == "odt" else "tablet"
        scored = " (scored)" if self.scored else ""
        return f"{format_mg(self.strength_mg)} {name}{scored}"


@dataclass(frozen=True, slots=True)
class Take:
    """Part of one administration: a count of tablets (halves allowed if scored) or a volume."""

    form: DoseForm
    count: Decimal = ZERO  # tablets, 0.5 steps
    volume_ml: Decimal = ZERO

    @property
    def mg(self) -> Decimal:
        if self.form.form == "liquid":
            return self.volume_ml * self.form.strength_mg
        return self.count * self.form.strength_mg

    @property
    def text(self) -> str:
        if self.form.form == "liquid":
            return f"{decimal_text(self.volume_ml)} mL of {self.form.label}"
        name = "ODT" if self.form.form == "odt" else "tablet"
        return f"{_count_text(self.count)} {TIMES} {format_mg(self.form.strength_mg)} {name}"


@dataclass(frozen=True, slots=True)
class Administration:
    """What to take at one time of day."""

    time: str
    drug: str
    dose_mg: Decimal
    takes: tuple[Take, ...]

    @property
    def take_text(self) -> str:
        return " + ".join(t.text for t in self.takes)


@dataclass(frozen=True, slots=True)
class Dispense:
    """Quantity to dispense for one step: whole tablets of a strength, or mL of a liquid."""

    form: DoseForm
    tablets: int = 0
    volume_ml: Decimal = ZERO

    @property
    def text(self) -> str:
        if self.form.form == "liquid":
            return f"{decimal_text(self.volume_ml)} mL of {self.form.drug} {self.form.label}"
        return f"{self.tablets} {TIMES} {self.form.drug} {self.form.label}"


@dataclass(frozen=True, slots=True)
class TaperStep:
    """One step of a plan: a dose held from ``start`` to ``end`` (both inclusive)."""

    index: int
    start: date
    end: date
    kind: StepKind
    administrations: tuple[Administration, ...]
    diazepam_equivalent_mg: Decimal
    notes: tuple[str, ...] = ()

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def daily_dose_mg(self) -> Decimal:
        return sum((a.dose_mg for a in self.administrations), ZERO)

    @property
    def drugs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.drug for a in self.administrations))

    @property
    def daily_dose_by_drug_mg(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for a in self.administrations:
            out[a.drug] = out.get(a.drug, ZERO) + a.dose_mg
        return out

    @property
    def dispensing(self) -> tuple[Dispense, ...]:
        per_form: dict[DoseForm, Decimal] = {}
        for a in self.administrations:
            for t in a.takes:
                amount = t.volume_ml if t.form.form == "liquid" else t.count
                per_form[t.form] = per_form.get(t.form, ZERO) + amount * self.days
        out = []
        for form, amount in per_form.items():
            if form.form == "liquid":
                out.append(Dispense(form, volume_ml=amount))
            else:
                out.append(Dispense(form, tablets=int(amount.to_integral_value(ROUND_CEILING))))
        return tuple(out)


@dataclass(frozen=True, slots=True)
class PlanVersion:
    """One version of a plan in its history: who changed it, when and why."""

    version: int
    on: date
    by: str
    reason: str
    action: str
    detail: str = ""
    ciwa_b_score: int | None = None
    tolerability: str | None = None


@dataclass(frozen=True, slots=True)
class Strategy:
    """How to reduce: a percent of the current dose, a fixed amount, explicit steps, or the
    label's short-course panic schedule (clonazepam only)."""

    kind: StrategyKind
    every_days: int
    percent: Decimal | None = None
    amount_mg: Decimal | None = None
    steps: tuple[tuple[Decimal, int], ...] = ()  # (daily dose mg, days)

    @property
    def text(self) -> str:
        if self.kind == "percent":
            pct = decimal_text(self.percent or ZERO)
            return f"reduce by {pct}% of the current dose every {self.every_days} days"
        if self.kind == "amount":
            return f"reduce by {format_mg(self.amount_mg or ZERO)}/day every {self.every_days} days"
        if self.kind == "label-panic":
            return f"label panic-disorder schedule: short course, every {self.every_days} days"
        return f"{len(self.steps)} steps given by the clinician"


@dataclass(frozen=True, slots=True)
class TaperRequest:
    """Everything the planner needs; parse text with :func:`parse_taper_request`."""

    drug: str
    daily_dose_mg: Decimal
    split: tuple[tuple[str, Decimal], ...]  # (time of day, mg), in time order
    start: date
    strategy: Strategy
    forms: tuple[DoseForm, ...]
    via: str | None = None
    via_forms: tuple[DoseForm, ...] = ()
    override_reason: str | None = None
    made_by: str = "unspecified"


@dataclass(frozen=True, slots=True)
class BoundInfo:
    """A bound or setting the plan was made within, for the clinician summary."""

    rule: str
    version: int
    text: str
    sources: tuple[SourceRef, ...]


@dataclass(frozen=True, slots=True)
class TaperPlan:
    """A plan: steps in date order from the current dose to zero, with its basis and history."""

    drug: str
    start: date
    strategy: Strategy
    forms: tuple[DoseForm, ...]
    via: str | None
    via_forms: tuple[DoseForm, ...]
    equivalence_table: str
    equivalence_mg: Decimal  # mg of the drug taken as equal to 10 mg diazepam
    equivalence_note: str
    steps: tuple[TaperStep, ...]
    findings: tuple[Finding, ...]
    bounds: tuple[BoundInfo, ...]
    override_reason: str | None
    knowledge_version: str
    history: tuple[PlanVersion, ...] = field(default=())
    protocol: ProtocolInfo | None = None

    @property
    def version(self) -> int:
        return self.history[-1].version if self.history else 1

    @property
    def end(self) -> date:
        return self.steps[-1].end

    @property
    def total_days(self) -> int:
        """Days from the start to the first day on no medicine."""
        return (self.steps[-1].start - self.start).days


def decimal_text(value: Decimal) -> str:
    """A Decimal as plain text to 4 places, trailing zeros dropped ("0.125", "10")."""
    return format(value.quantize(Decimal("0.0001")).normalize(), "f")


def _count_text(count: Decimal) -> str:
    whole = int(count)
    if count == whole:
        return str(whole)
    return "½" if whole == 0 else f"{whole}½"
