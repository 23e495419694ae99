"""Supervised taper plans: guideline-bounded, made of doses a patient can take, adjustable.

:func:`plan_taper` turns a :class:`TaperRequest` (drug, daily dose and split, start date,
strategy, forms, optional switch to diazepam) into a :class:`TaperPlan`: contiguous steps
from the current dose down to zero, each dose a sum of units the patient has, each
reduction within the cited bound (no more than 25% within any 14 days) unless a clinician
overrides it with a reason. :func:`adjust_plan` holds or slows a plan, never speeds it up,
and keeps every version. Pure functions over typed values: no I/O, no clock, no files.
Every number comes from ``knowledge/data/taper.toml`` or the class table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from fractions import Fraction
from typing import Any, Literal

from benzosafe.clinical.check import Finding, SourceRef
from benzosafe.clinical.equivalence import diazepam_equivalent, table_used
from benzosafe.errors import InvalidInput, PlanInfeasible, UnknownDrug
from benzosafe.knowledge import load
from benzosafe.knowledge.models import Citation, KnowledgeBase
from benzosafe.knowledge.taper import TaperKnowledge, TaperRule
from benzosafe.units import (
    FREQUENCIES,
    format_mg,
    parse_concentration,
    parse_daily_dose,
    parse_mass,
    parse_volume,
)

StrategyKind = Literal["percent", "amount", "steps", "label-panic"]
StepKind = Literal["start", "reduce", "switch", "hold", "stop"]
Action = Literal["hold", "slow"]

TIMES_OF_DAY = ("morning", "midday", "afternoon", "evening", "night")
_TIME_ALIASES = {"bedtime": "night", "noon": "midday", "am": "morning", "pm": "evening"}
_TIMES_FOR_FREQUENCY = {
    1: ("morning",),
    2: ("morning", "night"),
    3: ("morning", "afternoon", "night"),
    4: ("morning", "midday", "afternoon", "night"),
}
_HUNDRED = Decimal(100)
TIMES = "\u00d7"  # multiplication sign, as in "1 x 0.5 mg tablet"
_ZERO = Decimal(0)


# ---------------------------------------------------------------- forms and doses


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
    count: Decimal = _ZERO  # tablets, 0.5 steps
    volume_ml: Decimal = _ZERO

    @property
    def mg(self) -> Decimal:
        if self.form.form == "liquid":
            return self.volume_ml * self.form.strength_mg
        return self.count * self.form.strength_mg

    @property
    def text(self) -> str:
        if self.form.form == "liquid":
            return f"{_num(self.volume_ml)} mL of {self.form.label}"
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
    volume_ml: Decimal = _ZERO

    @property
    def text(self) -> str:
        if self.form.form == "liquid":
            return f"{_num(self.volume_ml)} mL of {self.form.drug} {self.form.label}"
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
        return sum((a.dose_mg for a in self.administrations), _ZERO)

    @property
    def drugs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(a.drug for a in self.administrations))

    @property
    def daily_dose_by_drug_mg(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for a in self.administrations:
            out[a.drug] = out.get(a.drug, _ZERO) + a.dose_mg
        return out

    @property
    def dispensing(self) -> tuple[Dispense, ...]:
        per_form: dict[DoseForm, Decimal] = {}
        for a in self.administrations:
            for t in a.takes:
                amount = t.volume_ml if t.form.form == "liquid" else t.count
                per_form[t.form] = per_form.get(t.form, _ZERO) + amount * self.days
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
            pct = _num(self.percent or _ZERO)
            return f"reduce by {pct}% of the current dose every {self.every_days} days"
        if self.kind == "amount":
            return (
                f"reduce by {format_mg(self.amount_mg or _ZERO)}/day every {self.every_days} days"
            )
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
    sources: tuple[Citation, ...]


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


# ---------------------------------------------------------------- small helpers


def _num(value: Decimal) -> str:
    return format(value.quantize(Decimal("0.0001")).normalize(), "f")


def _count_text(count: Decimal) -> str:
    whole = int(count)
    if count == whole:
        return str(whole)
    return "½" if whole == 0 else f"{whole}½"


def _pct(cut: Decimal, of: Decimal) -> Decimal:
    return (cut / of * _HUNDRED).quantize(Decimal("0.1")) if of else _ZERO


def _cite(sources: Iterable[Citation]) -> tuple[Citation, ...]:
    return tuple(sources)


def _finding(rule: TaperRule, summary: str, detail: str, step: int | None = None) -> Finding:
    kb = load()
    refs = tuple(
        SourceRef(c.ref, kb.sources[c.ref].title, c.section, kb.sources[c.ref].url)
        for c in rule.sources
    )
    return Finding(
        code=rule.code,
        severity=rule.severity,
        summary=summary[:139],
        detail=(f"Step {step}: " if step is not None else "") + detail,
        rule=rule.id,
        rule_version=rule.version,
        sources=refs,
    )


def _drug(kb: KnowledgeBase, name: str, field_name: str) -> str:
    key = name.strip().lower()
    for entry in kb.benzodiazepines.values():
        if key == entry.id or key in (n.lower() for n in entry.names + entry.brands):
            return entry.id
    raise UnknownDrug(field_name, f"unknown drug {name!r}", sorted(kb.benzodiazepines))


def _equivalence(kb: KnowledgeBase, drug: str, field_name: str) -> tuple[Decimal, str, str]:
    """mg of ``drug`` equal to 10 mg diazepam, the table's name and the other tables' values."""
    eq = kb.benzodiazepines[drug].equivalence
    if eq.used_mg is None:
        raise InvalidInput(
            field_name, f"{drug} has no diazepam equivalent in the knowledge base", ()
        )
    table = table_used(kb.benzodiazepines[drug])
    others = [
        f"{t.table} table {_num(t.low_mg)}"
        + (f"-{_num(t.high_mg)}" if t.high_mg != t.low_mg else "")
        + " mg"
        for t in eq.tables
        if t.table != table
    ]
    note = f"{drug} {_num(eq.used_mg)} mg = diazepam 10 mg by the {table} table"
    note += f" ({eq.choice.strip().rstrip('.')})"
    if others:
        note += "; other tables: " + ", ".join(others)
    note += "."
    return eq.used_mg, table, note


def _used_mg(kb: KnowledgeBase, drug: str) -> Decimal:
    used = kb.benzodiazepines[drug].equivalence.used_mg
    if used is None:
        raise InvalidInput("drug", f"{drug} has no diazepam equivalent in the knowledge base")
    return used


def diazepam_equivalent_mg(kb: KnowledgeBase, drug: str, mg: Decimal) -> Decimal:
    """The diazepam-equivalent mg of ``mg`` of ``drug``; an error when none is on record."""
    _used_mg(kb, drug)
    de = diazepam_equivalent(kb.benzodiazepines[drug], mg)
    assert de is not None  # _used_mg raised otherwise
    return de


# ---------------------------------------------------------------- parsing text input


def parse_forms(text: str, drug: str, field_name: str = "forms") -> tuple[DoseForm, ...]:
    """Parse "tablet:0.5,1,2 odt:0.125,0.25" (mg). A trailing ``s`` marks a scored tablet
    ("tablet:5s,10s"); tablets are taken as unscored unless so marked, or scored in the
    monograph's product list."""
    kb = load()
    mono = kb.monographs.get(drug)
    out: list[DoseForm] = []
    groups = text.replace(";", " ").split()
    if not groups:
        raise InvalidInput(field_name, "no forms given", ["tablet:0.5,1,2 odt:0.125,0.25"])
    for group in groups:
        kind, sep, values = group.partition(":")
        kind = kind.lower()
        if not sep or kind not in ("tablet", "odt") or not values:
            raise InvalidInput(
                field_name, f"{group!r} is not FORM:STRENGTH,...", ["tablet:0.5,1,2", "odt:0.125"]
            )
        for raw in values.split(","):
            item = raw.strip().lower()
            scored = item.endswith("s") and not item.endswith("mcgs")
            if scored:
                item = item[:-1]
            if kind == "odt" and scored:
                raise InvalidInput(
                    field_name, f"ODT {raw!r}: orally disintegrating tablets are not split"
                )
            mg = parse_mass(item if re.search(r"[a-zµ]", item) else f"{item} mg", field_name)
            if mono is not None:
                products = [p for p in mono.products if p.form == kind and p.strength_mg == mg]
                if not products:
                    allowed = sorted(
                        {
                            f"{p.form}:{_num(p.strength_mg)}"
                            for p in mono.products
                            if p.form in ("tablet", "odt")
                        }
                    )
                    raise InvalidInput(field_name, f"{drug} has no {format_mg(mg)} {kind}", allowed)
                if scored and not products[0].scored:
                    raise InvalidInput(
                        field_name,
                        f"the {format_mg(mg)} {drug} {kind} is not scored (halves not allowed)",
                    )
                scored = products[0].scored
            form = DoseForm(drug=drug, form=kind, strength_mg=mg, scored=scored)  # type: ignore[arg-type]
            if form not in out:
                out.append(form)
    return tuple(out)


def parse_liquid(text: str, drug: str, field_name: str = "liquid") -> DoseForm:
    """Parse "0.1 mg/mL step 0.1 mL": a concentration and the smallest volume measured."""
    match = re.fullmatch(r"\s*(?P<conc>.+?)\s+step\s+(?P<step>.+?)\s*", text, re.IGNORECASE)
    if match is None:
        raise InvalidInput(
            field_name, f"{text!r} is not 'CONCENTRATION step VOLUME'", ["0.1 mg/mL step 0.1 mL"]
        )
    conc = parse_concentration(match.group("conc"), field_name)
    step = parse_volume(match.group("step"), field_name)
    return DoseForm(drug=drug, form="liquid", strength_mg=conc, step_ml=step)


def default_forms(drug: str) -> tuple[DoseForm, ...]:
    """The monograph's US-marketed tablets and ODTs; none for a drug without a monograph."""
    mono = load().monographs.get(drug)
    if mono is None:
        return ()
    return tuple(
        DoseForm(drug=drug, form=p.form, strength_mg=p.strength_mg, scored=p.scored)
        for p in mono.products
        if p.form in ("tablet", "odt") and p.us_marketed
    )


def parse_split(
    text: str, daily_mg: Decimal, field_name: str = "split"
) -> tuple[tuple[str, Decimal], ...]:
    """Parse "1 mg bid" or "0.5 mg morning, 1 mg night" into (time of day, mg) in time order."""
    raw = text.strip()
    if not raw:
        raise InvalidInput(field_name, "empty split", ["1 mg bid", "0.5 mg morning, 1 mg night"])
    parts: dict[str, Decimal] = {}
    match = re.fullmatch(r"(?P<dose>.+?)\s+(?P<freq>[a-z0-9]+)", raw, re.IGNORECASE)
    if "," not in raw and match and match.group("freq").lower() in FREQUENCIES:
        freq = FREQUENCIES[match.group("freq").lower()]
        dose = parse_mass(match.group("dose"), field_name)
        times = ("night",) if freq.code == "qhs" else _TIMES_FOR_FREQUENCY.get(freq.times_per_day)
        if times is None:
            raise InvalidInput(
                field_name, f"{freq.code} is not a taper split", ["qd", "qhs", "bid", "tid", "qid"]
            )
        parts = dict.fromkeys(times, dose)
    else:
        allowed = [*TIMES_OF_DAY, *_TIME_ALIASES]
        for piece in raw.split(","):
            m = re.fullmatch(
                r"\s*(?P<dose>.+?)\s+(?:at\s+|in the\s+)?(?P<time>[a-z]+)\s*", piece, re.IGNORECASE
            )
            if m is None:
                raise InvalidInput(field_name, f"{piece.strip()!r} is not 'DOSE TIME'", allowed)
            time = m.group("time").lower()
            time = _TIME_ALIASES.get(time, time)
            if time not in TIMES_OF_DAY:
                raise InvalidInput(field_name, f"unknown time of day {m.group('time')!r}", allowed)
            if time in parts:
                raise InvalidInput(field_name, f"{time} is given twice")
            parts[time] = parse_mass(m.group("dose"), field_name)
    total = sum(parts.values(), _ZERO)
    if total != daily_mg:
        raise InvalidInput(
            field_name,
            f"the split adds up to {format_mg(total)}/day, not the daily dose "
            f"{format_mg(daily_mg)}/day",
        )
    return tuple((t, parts[t]) for t in TIMES_OF_DAY if t in parts)


def parse_steps_csv(text: str, field_name: str = "steps") -> tuple[tuple[Decimal, int], ...]:
    """Parse clinician steps: CSV with a header ``daily_dose,days`` ("1.75 mg/day,14")."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines or [c.strip().lower() for c in lines[0].split(",")] != ["daily_dose", "days"]:
        raise InvalidInput(field_name, "the first line must be the header 'daily_dose,days'")
    out: list[tuple[Decimal, int]] = []
    for n, line in enumerate(lines[1:], start=1):
        cells = [c.strip() for c in line.split(",")]
        where = f"{field_name}[{n}]"
        if len(cells) != 2:
            raise InvalidInput(where, f"{line!r} needs two cells: daily_dose,days")
        dose_text = cells[0]
        for suffix in ("/day", "/d", " per day", " daily"):
            if dose_text.lower().endswith(suffix):
                dose_text = dose_text[: -len(suffix)]
        dose = (
            _ZERO
            if re.fullmatch(r"0+(\.0+)?\s*(mg|mcg)", dose_text.strip())
            else parse_mass(dose_text, where)
        )
        if not cells[1].isdigit() or int(cells[1]) < 1:
            raise InvalidInput(where, f"days {cells[1]!r} must be a whole number of 1 or more")
        out.append((dose, int(cells[1])))
    if not out:
        raise InvalidInput(field_name, "no steps given")
    return tuple(out)


def parse_every(text: str, field_name: str = "every") -> int:
    """Parse "14d", "14 days" or "2w" into days."""
    m = re.fullmatch(r"\s*(\d+)\s*(d|day|days|w|wk|week|weeks)\s*", text.lower())
    if m is None:
        raise InvalidInput(field_name, f"{text!r} is not a period", ["14d", "14 days", "2w"])
    days = int(m.group(1)) * (7 if m.group(2).startswith("w") else 1)
    if days < 1:
        raise InvalidInput(field_name, "the period must be at least 1 day")
    return days


def parse_percent(text: str, field_name: str = "reduce") -> Decimal:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*", text)
    if m is None:
        raise InvalidInput(field_name, f"{text!r} is not a percent", ["10%", "5%"])
    value = Decimal(m.group(1))
    if not _ZERO < value < _HUNDRED:
        raise InvalidInput(field_name, f"{text!r} must be more than 0% and less than 100%")
    return value


# ---------------------------------------------------------------- makeable doses


class _Maker:
    """Which doses a set of forms can make at one time of day, and how (fewest pieces)."""

    def __init__(self, forms: Sequence[DoseForm], max_mg: Decimal) -> None:
        self.forms = tuple(forms)
        self.liquid = next((f for f in forms if f.form == "liquid"), None)
        pieces: list[tuple[Decimal, DoseForm, Decimal]] = []  # (mg, form, count)
        if self.liquid is not None:
            assert self.liquid.step_ml is not None
            pieces.append(
                (self.liquid.strength_mg * self.liquid.step_ml, self.liquid, self.liquid.step_ml)
            )
        for f in forms:
            if f.form == "liquid":
                continue
            pieces.append((f.strength_mg, f, Decimal(1)))
            if f.scored:
                pieces.append((f.strength_mg / 2, f, Decimal("0.5")))
        # prefer larger pieces, whole before half, tablets before ODT on ties
        pieces.sort(key=lambda p: (-p[0], p[2] != 1, p[1].form != "tablet"))
        self.pieces = pieces
        fractions = [Fraction(p[0]) for p in pieces]
        tick = fractions[0]
        for fr in fractions[1:]:
            tick = Fraction(
                math.gcd(tick.numerator * fr.denominator, fr.numerator * tick.denominator),
                tick.denominator * fr.denominator,
            )
        self.tick = Decimal(tick.numerator) / Decimal(tick.denominator)
        self.sizes = [int(Fraction(p[0]) / tick) for p in pieces]
        self.max_ticks = self.ticks(max_mg, exact=False) + 1
        inf = 1 << 30
        best = [0] + [inf] * self.max_ticks
        choice = [-1] * (self.max_ticks + 1)
        for t in range(1, self.max_ticks + 1):
            for i, size in enumerate(self.sizes):
                if size <= t and best[t - size] + 1 < best[t]:
                    best[t] = best[t - size] + 1
                    choice[t] = i
        self._best = best
        self._choice = choice
        self.per_time = [t for t in range(self.max_ticks + 1) if best[t] < inf]
        self._per_time_set = set(self.per_time)

    def ticks(self, mg: Decimal, exact: bool = True) -> int:
        q = mg / self.tick
        if exact and q != q.to_integral_value():
            return -1
        return int(q)

    def mg(self, ticks: int) -> Decimal:
        return self.tick * ticks

    def makeable_per_time(self, ticks: int) -> bool:
        return ticks in self._per_time_set

    def takes(self, ticks: int) -> tuple[Take, ...]:
        counts: dict[int, int] = {}
        t = ticks
        while t > 0:
            i = self._choice[t]
            counts[i] = counts.get(i, 0) + 1
            t -= self.sizes[i]
        per_form: dict[DoseForm, Decimal] = {}
        for i, n in counts.items():
            _, form, unit = self.pieces[i]
            per_form[form] = per_form.get(form, _ZERO) + unit * n
        out = []
        for form in [p[1] for p in self.pieces]:
            if form in per_form:
                amount = per_form.pop(form)
                if form.form == "liquid":
                    out.append(Take(form, volume_ml=amount))
                else:
                    out.append(Take(form, count=amount))
        return tuple(out)


class _Daily:
    """Daily doses makeable over the dose times, and how to share one across the times."""

    def __init__(self, maker: _Maker, times: Sequence[str], shares: Sequence[Decimal]) -> None:
        self.maker = maker
        self.times = tuple(times)
        total = sum(shares, _ZERO)
        self.shares = [Fraction(s / total) if total else Fraction(1, len(shares)) for s in shares]
        top = maker.max_ticks
        if maker.makeable_per_time(1):
            self.daily = set(range(top + 1))
        else:
            reach = {0}
            for _ in times:
                reach = {a + b for a in reach for b in maker.per_time if a + b <= top}
            self.daily = reach
        self.sorted_daily = sorted(self.daily)

    def allocate(self, ticks: int) -> tuple[int, ...]:
        """Per-time ticks summing to ``ticks``, closest to the original shares; ties give more
        to later times (the night dose is the last to go)."""
        per = self.maker.per_time
        ideals = [self.shares[i] * ticks for i in range(len(self.times))]
        for width in (3, None):
            cands: list[list[int]] = []
            for ideal in ideals:
                if width is None:
                    cands.append([p for p in per if p <= ticks])
                    continue
                below = [p for p in per if p <= ideal][-width:]
                above = [p for p in per if ideal < p <= ticks][:width]
                cands.append(sorted({0, *below, *above}))
            states: dict[int, tuple[Fraction, tuple[int, ...]]] = {0: (Fraction(0), ())}
            for i, options in enumerate(cands):
                nxt: dict[int, tuple[Fraction, tuple[int, ...]]] = {}
                for total, (cost, alloc) in states.items():
                    for c in options:
                        s = total + c
                        if s > ticks:
                            continue
                        item = (cost + abs(c - ideals[i]), (*alloc, c))
                        old = nxt.get(s)
                        if (
                            old is None
                            or item[0] < old[0]
                            or (item[0] == old[0] and item[1][::-1] > old[1][::-1])
                        ):
                            nxt[s] = item
                states = nxt
            if ticks in states:
                return states[ticks][1]
        raise PlanInfeasible(
            f"forms: {format_mg(self.maker.mg(ticks))}/day cannot be shared over the dose times"
        )

    def administrations(self, drug: str, ticks: int) -> tuple[Administration, ...]:
        out = []
        for time, t in zip(self.times, self.allocate(ticks), strict=True):
            if t:
                out.append(Administration(time, drug, self.maker.mg(t), self.maker.takes(t)))
        return tuple(out)

    def below(self, ticks: int) -> list[int]:
        return [d for d in self.sorted_daily if d < ticks]


# ---------------------------------------------------------------- rules as functions


def _bound(tk: TaperKnowledge) -> tuple[Decimal, int]:
    rule = tk.rule("window-bound")
    return Decimal(str(rule.params["max_reduction_percent"])) / _HUNDRED, int(
        rule.params["window_days"]
    )


def window_violations(
    daily_de: Sequence[Decimal], max_fraction: Decimal, window_days: int
) -> list[int]:
    """Day indexes whose dose is more than ``max_fraction`` below a dose earlier in the same
    window of ``window_days`` consecutive days."""
    bad = []
    for j, dose in enumerate(daily_de):
        earlier = daily_de[max(0, j - window_days + 1) : j]
        if earlier and max(earlier) * (1 - max_fraction) > dose:
            bad.append(j)
    return bad


def in_low_band(kb: KnowledgeBase, drug: str, daily_mg: Decimal) -> bool:
    """Whether a daily dose is within the guideline's low dose band (per-drug mg as printed,
    else diazepam-equivalent), as held in the assessment data's dose bands."""
    bands = load().assessment.level_of_care.dose_bands
    per_drug = next((b for b in bands.per_drug if b.drug == drug), None)
    if per_drug is not None:
        return daily_mg <= per_drug.low_max_mg
    return diazepam_equivalent_mg(kb, drug, daily_mg) <= bands.diazepam_equivalent.low_max_mg


def rule_fires(rule: TaperRule, case_input: dict[str, Any]) -> bool:
    """Evaluate one taper rule on a case input (the shapes documented in taper.toml)."""
    tk, kb = load().taper, load()
    if rule.kind == "window-bound":
        max_fraction, window = _bound(tk)
        daily: list[Decimal] = []
        for dose, days in case_input["doses"]:
            daily += [parse_mass(dose)] * int(days)
        return bool(window_violations(daily, max_fraction, window))
    if rule.kind == "tail-step":
        max_fraction, _ = _bound(tk)
        src = parse_mass(case_input["from"])
        to = _mass_or_zero(case_input["to"])
        return (src - to) > src * max_fraction and in_low_band(kb, case_input["drug"], src)
    if rule.kind == "fixed-share":
        limit = Decimal(str(rule.params["max_reduction_percent"])) / _HUNDRED
        return parse_mass(case_input["amount"]) > parse_mass(case_input["current"]) * limit
    if rule.kind == "short-course":
        return bool(case_input["strategy"] == "label-panic")
    return parse_mass(case_input["target"]) != parse_mass(case_input["made"])


def _mass_or_zero(text: str) -> Decimal:
    return _ZERO if re.fullmatch(r"\s*0+(\.0+)?\s*mg\s*", text) else parse_mass(text)


# ---------------------------------------------------------------- the planner


@dataclass
class _Builder:
    """Accumulates steps and the day-by-day diazepam-equivalent timeline while planning."""

    kb: KnowledgeBase
    tk: TaperKnowledge
    request: TaperRequest
    steps: list[TaperStep] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    timeline: list[Decimal] = field(default_factory=list)  # DE per day
    rounded: list[int] = field(default_factory=list)  # steps whose target was not makeable
    day: date = date.min

    def add(
        self, kind: StepKind, adms: tuple[Administration, ...], days: int, notes: Sequence[str] = ()
    ) -> None:
        de = sum((diazepam_equivalent_mg(self.kb, a.drug, a.dose_mg) for a in adms), _ZERO)
        start = self.day
        end = start + timedelta(days=days - 1)
        self.steps.append(TaperStep(len(self.steps) + 1, start, end, kind, adms, de, tuple(notes)))
        self.timeline += [de] * days
        self.day = end + timedelta(days=1)

    def floor_de(self) -> Decimal:
        """The lowest DE allowed tomorrow by the window bound."""
        max_fraction, window = _bound(self.tk)
        earlier = self.timeline[-(window - 1) :]
        return max(earlier) * (1 - max_fraction) if earlier else _ZERO


def _validate_request(kb: KnowledgeBase, req: TaperRequest) -> None:
    if req.drug not in kb.benzodiazepines:
        raise UnknownDrug("drug", f"unknown drug {req.drug!r}", sorted(kb.benzodiazepines))
    if req.daily_dose_mg <= 0:
        raise InvalidInput("dose", "the current daily dose must be more than zero")
    if not req.forms:
        raise InvalidInput(
            "forms",
            f"no forms given for {req.drug}; say what the patient has",
            ["tablet:0.5,1,2 odt:0.125"],
        )
    if any(f.drug != req.drug for f in req.forms):
        raise InvalidInput("forms", f"every form must be of {req.drug}")
    if sum((mg for _, mg in req.split), _ZERO) != req.daily_dose_mg:
        raise InvalidInput("split", "the split does not add up to the daily dose")
    if req.override_reason is not None and not req.override_reason.strip():
        raise InvalidInput("override_reason", "an override needs a reason")
    s = req.strategy
    if s.every_days < 1:
        raise InvalidInput("every", "the period must be at least 1 day")
    if s.kind == "percent" and (s.percent is None or not _ZERO < s.percent < _HUNDRED):
        raise InvalidInput("reduce", "a percent between 0 and 100 is needed")
    if s.kind == "amount" and (s.amount_mg is None or s.amount_mg <= 0):
        raise InvalidInput("reduce_by", "an amount more than zero is needed")
    if s.kind == "steps" and not s.steps:
        raise InvalidInput("steps", "no steps given")
    if s.kind == "label-panic" and req.drug != load().taper.label_panic.drug:
        raise InvalidInput(
            "strategy", f"the label panic schedule is for {load().taper.label_panic.drug} only"
        )
    if req.via is not None:
        if req.via not in kb.benzodiazepines:
            raise UnknownDrug("via", f"unknown drug {req.via!r}", ["diazepam"])
        if req.via != "diazepam":
            raise InvalidInput("via", f"switching to {req.via} is not supported", ["diazepam"])
        if req.via == req.drug:
            raise InvalidInput("via", f"the plan is already on {req.drug}")
        if s.kind in ("steps", "label-panic"):
            raise InvalidInput(
                "via", f"a switch to {req.via} cannot be combined with the {s.kind} strategy"
            )
        if not req.via_forms:
            raise InvalidInput(
                "via_forms",
                f"say which {req.via} forms the patient will have",
                ["tablet:2s,5s,10s"],
            )
        if any(f.drug != req.via for f in req.via_forms):
            raise InvalidInput("via_forms", f"every form must be of {req.via}")


def _nominal_rate_check(req: TaperRequest, tk: TaperKnowledge) -> None:
    """Refuse a strategy whose own pace breaks the window bound (without an override)."""
    if req.override_reason is not None:
        return
    max_fraction, window = _bound(tk)
    s = req.strategy
    changes = math.ceil((window - 1) / s.every_days)
    bound_text = f"the bound is {_num(max_fraction * _HUNDRED)}% within any {window} days"
    if s.kind == "percent" and s.percent is not None:
        kept = (1 - s.percent / _HUNDRED) ** changes
        if 1 - kept > max_fraction:
            raise InvalidInput(
                "reduce",
                f"{_num(s.percent)}% every {s.every_days} days cuts {_pct(1 - kept, Decimal(1))}% "
                f"within {window} days; {bound_text}. Reduce less or less often, or override "
                "with a reason",
            )
    if s.kind == "amount" and s.amount_mg is not None:
        cut = s.amount_mg * changes
        if cut > req.daily_dose_mg * max_fraction:
            raise InvalidInput(
                "reduce_by",
                f"{format_mg(s.amount_mg)} every {s.every_days} days cuts "
                f"{_pct(cut, req.daily_dose_mg)}% "
                f"of {format_mg(req.daily_dose_mg)}/day within {window} days; {bound_text}. "
                "Reduce less or less often, or override with a reason",
            )


def plan_taper(request: TaperRequest) -> TaperPlan:
    """Make a taper plan within the cited bounds, or raise a clear error saying why not."""
    kb, tk = load(), load().taper
    req = request
    _validate_request(kb, req)
    _nominal_rate_check(req, tk)
    used_mg, table, eq_note = _equivalence(kb, req.drug, "drug")
    b = _Builder(kb, tk, req, day=req.start)
    times = [t for t, _ in req.split]
    shares = [mg for _, mg in req.split]
    maker = _Maker(req.forms, req.daily_dose_mg)
    for time, mg in req.split:
        if maker.ticks(mg) < 0 or not maker.makeable_per_time(maker.ticks(mg)):
            raise InvalidInput(
                "split",
                f"{format_mg(mg)} at {time} cannot be made from "
                + ", ".join(f.label for f in req.forms),
            )
    daily = _Daily(maker, times, shares)
    start_adms = tuple(
        Administration(t, req.drug, mg, maker.takes(maker.ticks(mg))) for t, mg in req.split
    )
    s = req.strategy
    if s.kind == "label-panic":
        b.findings.append(
            _finding(
                tk.rule("short-course"),
                "Label panic-disorder schedule: a short-course option, far faster than the taper "
                "bound",
                f"Decrease by {format_mg(tk.label_panic.reduce_per_dose_mg)} "
                f"{tk.label_panic.doses_per_day} times a day every {tk.label_panic.every_days} "
                "days "
                "(label). For long-term users this breaks the guideline's ceiling "
                f"({tk.rule('window-bound').title}); use it only after a short course.",
            )
        )
    if s.kind == "steps":
        _explicit_steps(b, daily, start_adms)
    else:
        first_days = s.every_days
        b.add("start", start_adms, first_days, ["current dose"])
        current = maker.ticks(req.daily_dose_mg)
        if req.via is not None:
            maker, daily, current = _switch(b, daily, times)
        _reduce_to_zero(b, daily, current)
    if b.rounded:
        listed = ", ".join(str(i) for i in b.rounded)
        b.findings.append(
            _finding(
                tk.rule("rounded-step"),
                f"{len(b.rounded)} step(s) use the nearest makeable dose, not the exact target",
                f"Steps {listed}: the target dose could not be made from the forms given; each "
                "uses the "
                "makeable dose nearest to it within the bound (see the step notes).",
            )
        )
    bounds = _bounds_info(tk, req)
    if req.override_reason is not None:
        bounds += (
            BoundInfo(
                "OVERRIDE",
                1,
                f"Clinician override of the taper bound: {req.override_reason.strip()}",
                (),
            ),
        )
    history = (PlanVersion(1, req.start, req.made_by, "plan made", "create", s.text),)
    return TaperPlan(
        drug=req.drug,
        start=req.start,
        strategy=s,
        forms=req.forms,
        via=req.via,
        via_forms=req.via_forms,
        equivalence_table=table,
        equivalence_mg=used_mg,
        equivalence_note=eq_note,
        steps=tuple(b.steps),
        findings=tuple(b.findings),
        bounds=bounds,
        override_reason=req.override_reason.strip() if req.override_reason else None,
        knowledge_version=kb.version,
        history=history,
    )


def _bounds_info(tk: TaperKnowledge, req: TaperRequest) -> tuple[BoundInfo, ...]:
    rule = tk.rule("window-bound")
    out = [
        BoundInfo(rule.id, rule.version, rule.title, _cite(rule.sources)),
        BoundInfo(
            "TAPER-PACE",
            1,
            f"Default pace {_num(tk.pace.percent)}% of the current dose every "
            f"{tk.pace.every_days} days; "
            f"this plan: {req.strategy.text}",
            _cite(tk.pace.sources),
        ),
        BoundInfo(
            "TAPER-ADJUST",
            1,
            "Withdrawal symptoms: hold or slow the taper; never speed it up",
            _cite(tk.adjust.sources),
        ),
    ]
    if req.via is not None:
        out.append(
            BoundInfo(
                "TAPER-SWITCH",
                1,
                f"Switch to {req.via} one dose time at a time over {tk.switch.total_days} days",
                _cite(tk.switch.sources),
            )
        )
    return tuple(out)


def _target_ticks(
    b: _Builder, daily: _Daily, current: int, converted_amount: Decimal | None
) -> Decimal:
    s = b.request.strategy
    maker = daily.maker
    cur_mg = maker.mg(current)
    if s.kind == "percent" and s.percent is not None:
        return cur_mg * (1 - s.percent / _HUNDRED)
    if s.kind == "label-panic":
        lp = b.tk.label_panic
        return cur_mg - lp.reduce_per_dose_mg * lp.doses_per_day
    amount = converted_amount if converted_amount is not None else (s.amount_mg or _ZERO)
    return cur_mg - amount


def _reduce_to_zero(b: _Builder, daily: _Daily, current: int) -> None:
    tk, kb, req = b.tk, b.kb, b.request
    s = req.strategy
    maker = daily.maker
    drug = req.via or req.drug
    max_fraction, window = _bound(tk)
    override = req.override_reason is not None
    exempt = s.kind == "label-panic"
    every = tk.label_panic.every_days if exempt else s.every_days
    amount = None
    if s.kind == "amount" and req.via is not None and s.amount_mg is not None:
        amount = s.amount_mg * _used_mg(kb, drug) / _used_mg(kb, req.drug)
    per_de = diazepam_equivalent_mg(kb, drug, Decimal(1))
    fixed_rule = tk.rule("fixed-share")
    fixed_warned = False
    while current > 0:
        cur_mg = maker.mg(current)
        target = max(_target_ticks(b, daily, current, amount), _ZERO)
        floor_mg = b.floor_de() / per_de
        notes: list[str] = []
        days = every
        lowest = target if (override or exempt) else max(target, floor_mg)
        if s.kind == "amount" and target < floor_mg and not override and not fixed_warned:
            fixed_warned = True
            b.findings.append(
                _finding(
                    fixed_rule,
                    f"From {format_mg(cur_mg)}/day the fixed cut exceeds the bound: smaller cuts "
                    "used",
                    f"A fixed {format_mg(cur_mg - target)}/day cut is "
                    f"{_pct(cur_mg - target, cur_mg)}% of "
                    f"{format_mg(cur_mg)}/day; the planner took the smallest makeable cuts within "
                    f"{_num(max_fraction * _HUNDRED)}% in {window} days from here on.",
                    len(b.steps) + 1,
                )
            )
        options = [d for d in daily.below(current) if maker.mg(d) >= lowest]
        below = daily.below(current)
        if options:
            new = options[0]
            if maker.mg(new) != target:
                notes.append(
                    f"target {format_mg(target)}/day is not makeable; "
                    f"{format_mg(maker.mg(new))}/day is the "
                    "nearest makeable dose within the bound"
                )
        elif below and (override or exempt or maker.mg(below[-1]) >= floor_mg):
            new = below[-1]
            notes.append(
                f"target {format_mg(target)}/day is not makeable; {format_mg(maker.mg(new))}/day "
                "is the "
                "smallest makeable cut within the bound"
            )
        else:
            new = below[-1] if below else 0
            new_mg = maker.mg(new)
            cut = cur_mg - new_mg
            if override or exempt:
                pass
            elif in_low_band(kb, drug, cur_mg):
                rule = tk.rule("tail-step")
                steps_needed = math.ceil(cut / cur_mg / max_fraction)
                days = max(every, window * steps_needed) if new else every
                what = "stop" if new == 0 else f"{format_mg(new_mg)}/day"
                b.findings.append(
                    _finding(
                        rule,
                        f"Low-dose step {format_mg(cur_mg)}/day to {what}: a "
                        f"{_pct(cut, cur_mg)}% cut, "
                        "the smallest the forms allow",
                        f"The bound allows down to {format_mg(floor_mg)}/day, but no dose from "
                        f"there up to {format_mg(cur_mg)}/day "
                        "can be made from the forms given; a finer form (ODT or a liquid) would "
                        "allow smaller cuts."
                        + (
                            f" The new dose is kept {days} days to stay within the average pace."
                            if new
                            else ""
                        ),
                        len(b.steps) + 1,
                    )
                )
                notes.append(
                    f"low-dose step: {_pct(cut, cur_mg)}% cut, the smallest the forms allow"
                )
            else:
                raise PlanInfeasible(
                    f"forms: from {format_mg(cur_mg)}/day the forms make no dose within the bound "
                    f"(at least {format_mg(max(floor_mg, target))}/day); the next lower dose is "
                    f"{format_mg(new_mg)}/day, a {_pct(cut, cur_mg)}% cut. Add a smaller strength, "
                    "an ODT or a liquid, or override with a reason"
                )
        if override and not exempt:
            de_new = maker.mg(new) * per_de
            if de_new < b.floor_de():
                notes.append(f"above the bound by clinician override: {req.override_reason}")
        if any(n.startswith("target ") for n in notes):
            b.rounded.append(len(b.steps) + 1)
        if new == 0:
            b.add("stop", (), 1, ["stop: no more doses"])
            return
        b.add("reduce", daily.administrations(drug, new), days, notes)
        current = new


def _switch(b: _Builder, daily: _Daily, times: Sequence[str]) -> tuple[_Maker, _Daily, int]:
    """Substitute diazepam one dose time at a time over the switch period."""
    kb, tk, req = b.kb, b.tk, b.request
    assert req.via is not None
    via = req.via
    last = b.steps[-1]
    adms = list(last.administrations)
    ratio = _used_mg(kb, via) / _used_mg(kb, req.drug)
    start_de = sum((diazepam_equivalent_mg(kb, a.drug, a.dose_mg) for a in adms), _ZERO)
    via_maker = _Maker(req.via_forms, start_de * _used_mg(kb, via) / 10 + 1)
    n = len(adms)
    stage_days = [tk.switch.total_days // n] * n
    stage_days[-1] += tk.switch.total_days - sum(stage_days)
    max_fraction, _ = _bound(tk)
    for i in range(n):
        a = adms[i]
        equal = a.dose_mg * ratio
        ticks = via_maker.ticks(equal, exact=False)
        while ticks > 0 and not via_maker.makeable_per_time(ticks):
            ticks -= 1
        made = via_maker.mg(ticks)
        if made * (1 / ratio) < a.dose_mg * (1 - max_fraction) or ticks == 0:
            raise PlanInfeasible(
                f"via_forms: {format_mg(a.dose_mg)} {req.drug} at {a.time} equals "
                f"{format_mg(equal)} {via}; "
                f"the {via} forms given make at most {format_mg(made)} without going over. "
                "Add a smaller strength or a scored tablet"
            )
        adms[i] = Administration(a.time, via, made, via_maker.takes(ticks))
        note = f"{a.time}: {format_mg(a.dose_mg)} {req.drug} replaced by {format_mg(made)} {via}"
        if made != equal:
            note += f" (equivalent {format_mg(equal)}, rounded down to a makeable dose)"
        b.add("switch", tuple(adms), stage_days[i], [note])
    shares = [a.dose_mg for a in adms]
    via_daily = _Daily(via_maker, [a.time for a in adms], shares)
    current = via_maker.ticks(sum(shares, _ZERO))
    return via_maker, via_daily, current


def _explicit_steps(b: _Builder, daily: _Daily, start_adms: tuple[Administration, ...]) -> None:
    req, tk, kb = b.request, b.tk, b.kb
    maker = daily.maker
    max_fraction, window = _bound(tk)
    steps = req.strategy.steps
    if steps[-1][0] != 0:
        raise InvalidInput(
            f"steps[{len(steps)}]", "the last step must be 0 mg (the plan ends at zero)"
        )
    previous = req.daily_dose_mg
    per_de = diazepam_equivalent_mg(kb, req.drug, Decimal(1))
    first = True
    for n, (dose, days) in enumerate(steps, start=1):
        where = f"steps[{n}]"
        if dose > previous:
            raise InvalidInput(
                where,
                f"{format_mg(dose)}/day is above the dose before it ({format_mg(previous)}/day)",
            )
        ticks = maker.ticks(dose)
        if ticks < 0 or ticks not in daily.daily:
            raise InvalidInput(
                where,
                f"{format_mg(dose)}/day cannot be made from "
                + ", ".join(f.label for f in req.forms),
            )
        if first and dose != req.daily_dose_mg:
            b.add("start", start_adms, req.strategy.every_days, ["current dose"])
        first = False
        notes: list[str] = []
        if b.steps and dose * per_de < b.floor_de():
            cur = previous
            cut = cur - dose
            forced = not [
                d for d in daily.below(maker.ticks(cur)) if maker.mg(d) * per_de >= b.floor_de()
            ]
            if req.override_reason is not None:
                pass
            elif forced and in_low_band(kb, req.drug, cur):
                b.findings.append(
                    _finding(
                        tk.rule("tail-step"),
                        f"Low-dose step {format_mg(cur)}/day to {format_mg(dose)}/day: "
                        f"a {_pct(cut, cur)}% cut, the smallest the forms allow",
                        "No smaller cut can be made from the forms given.",
                        len(b.steps) + 1,
                    )
                )
                notes.append(f"low-dose step: {_pct(cut, cur)}% cut, the smallest the forms allow")
            else:
                raise InvalidInput(
                    where,
                    f"{format_mg(previous)} to {format_mg(dose)}/day breaks the bound of "
                    f"{_num(max_fraction * _HUNDRED)}% within any {window} days; "
                    "make smaller or later cuts, or override with a reason",
                )
        if dose == 0:
            b.add("stop", (), 1, ["stop: no more doses"])
            return
        kind: StepKind = "start" if not b.steps else ("hold" if dose == previous else "reduce")
        b.add(kind, daily.administrations(req.drug, ticks), days, notes)
        previous = dose


# ---------------------------------------------------------------- adjusting a plan


def adjust_plan(
    plan: TaperPlan,
    *,
    on: date,
    reason: str,
    by: str,
    ciwa_b_score: int | None = None,
    tolerability: str | None = None,
    action: Action | None = None,
    hold_days: int | None = None,
    slow_every_days: int | None = None,
) -> TaperPlan:
    """Hold (repeat the current step) or slow the remaining steps; never speeds a plan up.

    Needs an observation (a CIWA-B total, recorded as given and not interpreted: its bands
    are unverified, see the README; or the patient's tolerability in words) and a reason.
    Returns a new plan whose history gains this version.
    """
    if not reason.strip():
        raise InvalidInput("reason", "say why the plan is adjusted")
    if not by.strip():
        raise InvalidInput("by", "say who adjusts the plan")
    if ciwa_b_score is None and not (tolerability or "").strip():
        raise InvalidInput("ciwa_b_score", "give a CIWA-B score or the tolerability")
    if ciwa_b_score is not None and ciwa_b_score < 0:
        raise InvalidInput("ciwa_b_score", "a CIWA-B total cannot be negative")
    tk = load().taper
    chosen: Action = action or tk.adjust.default_action
    stop = plan.steps[-1]
    if not plan.start <= on < stop.start:
        raise InvalidInput(
            "on",
            f"{on.isoformat()} is not within the plan "
            f"({plan.start.isoformat()} to {stop.start.isoformat()})",
        )
    steps = list(plan.steps)
    if chosen == "hold":
        idx = next(i for i, s in enumerate(steps) if s.start <= on <= s.end)
        current = steps[idx]
        days = hold_days if hold_days is not None else current.days
        if days < 1:
            raise InvalidInput("hold_days", "a hold lasts at least 1 day")
        held = replace(current, kind="hold", notes=(f"hold: {reason.strip()}",))
        steps.insert(idx + 1, _with_days(held, days))
        detail = (
            f"hold {format_mg(current.daily_dose_mg)}/day for {days} more days "
            f"from step {current.index}"
        )
    else:
        if slow_every_days is None or slow_every_days < 1:
            raise InvalidInput(
                "slow_every_days", "give the new length of each remaining step in days"
            )
        changed = False
        for i, s in enumerate(steps):
            if s.start > on and s.kind != "stop" and s.days < slow_every_days:
                steps[i] = _with_days(
                    replace(s, notes=(*s.notes, f"slowed: {reason.strip()}")), slow_every_days
                )
                changed = True
        if not changed:
            raise InvalidInput(
                "slow_every_days",
                f"{slow_every_days} days would not slow any remaining step "
                "(a plan is never sped up)",
            )
        detail = f"remaining steps last at least {slow_every_days} days"
    version = PlanVersion(
        plan.version + 1,
        on,
        by.strip(),
        reason.strip(),
        chosen,
        detail,
        ciwa_b_score,
        tolerability.strip() if tolerability else None,
    )
    return replace(plan, steps=_redate(steps, plan.start), history=(*plan.history, version))


def _with_days(step: TaperStep, days: int) -> TaperStep:
    return replace(step, end=step.start + timedelta(days=days - 1))


def _redate(steps: Sequence[TaperStep], start: date) -> tuple[TaperStep, ...]:
    out = []
    day = start
    for i, s in enumerate(steps, start=1):
        out.append(replace(s, index=i, start=day, end=day + timedelta(days=s.days - 1)))
        day = out[-1].end + timedelta(days=1)
    return tuple(out)


def daily_series(plan: TaperPlan) -> list[tuple[date, Decimal, Decimal, bool]]:
    """Each day of the plan: (date, daily dose mg, diazepam-equivalent mg, on hold)."""
    out = []
    for s in plan.steps:
        for k in range(s.days):
            out.append(
                (
                    s.start + timedelta(days=k),
                    s.daily_dose_mg,
                    s.diazepam_equivalent_mg,
                    s.kind == "hold",
                )
            )
    return out


def parse_taper_request(
    *,
    drug: str,
    dose: str,
    split: str,
    start: str,
    reduce: str | None = None,
    reduce_by: str | None = None,
    steps_csv: str | None = None,
    label_panic: bool = False,
    every: str | None = None,
    forms: str | None = None,
    liquid: str | None = None,
    via: str | None = None,
    via_forms: str | None = None,
    override_reason: str | None = None,
    by: str = "unspecified",
) -> TaperRequest:
    """Build a :class:`TaperRequest` from text as typed by a clinician (CLI, web form)."""
    kb, tk = load(), load().taper
    drug_id = _drug(kb, drug, "drug")
    daily = parse_daily_dose(dose, "dose")
    try:
        start_day = date.fromisoformat(start.strip())
    except ValueError as exc:
        raise InvalidInput("start", f"{start!r} is not a date", ["YYYY-MM-DD"]) from exc
    given = (("reduce", reduce), ("reduce_by", reduce_by), ("steps", steps_csv))
    chosen = [name for name, value in given if value]
    if label_panic:
        chosen.append("label_panic")
    if len(chosen) > 1:
        raise InvalidInput(chosen[1], "choose one strategy", ["reduce", "reduce_by", "steps"])
    every_days = parse_every(every, "every") if every else tk.pace.every_days
    strategy: Strategy
    if reduce_by:
        strategy = Strategy("amount", every_days, amount_mg=parse_mass(reduce_by, "reduce_by"))
    elif steps_csv:
        strategy = Strategy("steps", every_days, steps=parse_steps_csv(steps_csv))
    elif label_panic:
        strategy = Strategy("label-panic", tk.label_panic.every_days)
    else:
        pct = parse_percent(reduce, "reduce") if reduce else tk.pace.percent
        strategy = Strategy("percent", every_days, percent=pct)
    if forms and liquid:
        raise InvalidInput("liquid", "give either tablet forms or a liquid, not both")
    if liquid:
        form_set: tuple[DoseForm, ...] = (parse_liquid(liquid, drug_id),)
    elif forms:
        form_set = parse_forms(forms, drug_id)
    else:
        form_set = default_forms(drug_id)
    via_id = _drug(kb, via, "via") if via else None
    via_set = parse_forms(via_forms, via_id, "via_forms") if via_forms and via_id else ()
    return TaperRequest(
        drug=drug_id,
        daily_dose_mg=daily,
        split=parse_split(split, daily),
        start=start_day,
        strategy=strategy,
        forms=form_set,
        via=via_id,
        via_forms=via_set,
        override_reason=override_reason,
        made_by=by,
    )
