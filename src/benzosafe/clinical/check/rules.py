"""The prescription check: one order for one patient against every applicable rule.

:func:`check_prescription` is pure: it takes a parsed :class:`Order` and :class:`Patient`
and the knowledge, and returns a :class:`CheckReport` whose findings each carry a stable
code, a severity, a one-line summary (under 140 characters, fit for a CDS card), a detail,
the rule id and version, and the sources. Rules that could not be evaluated are listed
under ``not_evaluated`` with the reason, never treated as safe. Each rule kind has one
handler here; the numbers live in ``knowledge/data/rules``. :func:`check_raw` parses the
public JSON shape of both and checks them, the sequence every face needs.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from benzosafe.clinical.check.model import CheckReport, Order, Patient
from benzosafe.clinical.check.parsing import parse_order, parse_patient
from benzosafe.clinical.equivalence import diazepam_equivalent, table_used
from benzosafe.clinical.findings import (
    SEVERITY_RANK,
    Finding,
    NotEvaluated,
    SourceRef,
    source_refs,
)
from benzosafe.clinical.medications import (
    BENZODIAZEPINE,
    OPIOID,
    CoMedication,
    find_benzodiazepine,
    mme_per_day,
)
from benzosafe.knowledge.bundle import protocol_of
from benzosafe.knowledge.models import BenzodiazepineEntry, KnowledgeBase, Rule
from benzosafe.units import format_mg


@dataclass(slots=True)
class _Context:
    kb: KnowledgeBase
    order: Order
    patient: Patient
    drug: BenzodiazepineEntry | None
    daily_mg: Decimal | None
    paediatric: bool | None
    findings: list[Finding] = field(default_factory=list)
    not_evaluated: list[NotEvaluated] = field(default_factory=list)


_Handler = Callable[[Rule, _Context], None]
_HANDLERS: dict[str, _Handler] = {}


def _handler(kind: str) -> Callable[[_Handler], _Handler]:
    def register(fn: _Handler) -> _Handler:
        _HANDLERS[kind] = fn
        return fn

    return register


@cache
def _sources(kb: KnowledgeBase, rule_id: str) -> tuple[SourceRef, ...]:
    return source_refs(kb, kb.rules[rule_id].sources)


def _fire(ctx: _Context, rule: Rule, summary: str, detail: str) -> None:
    ctx.findings.append(
        Finding(
            code=rule.code,
            severity=rule.severity,
            summary=summary if len(summary) < 140 else summary[:136] + "...",
            detail=f"{detail} {rule.checks}".strip(),
            rule=rule.id,
            rule_version=rule.version,
            sources=_sources(ctx.kb, rule.id),
        )
    )


def _skip(ctx: _Context, rule: Rule, reason: str, code: str | None = None) -> None:
    ctx.not_evaluated.append(NotEvaluated(code or rule.code, rule.id, reason))


def _param(rule: Rule, name: str) -> Decimal | None:
    value = rule.params.get(name)
    return Decimal(str(value)) if value is not None else None


def _indication_name(ctx: _Context) -> str:
    if ctx.order.indication is None:
        return "no indication given"
    return ctx.kb.indications[ctx.order.indication].name.split(" (")[0].lower()


def _how_taken(order: Order) -> str:
    if order.dose_mg is None or order.frequency is None:
        return ""
    return f" ({format_mg(order.dose_mg)} {order.frequency.label})"


def _dose_limit(rule: Rule, ctx: _Context, daily: Decimal, what: str) -> None:
    per_day = _param(rule, "max_mg_per_day")
    per_kg = _param(rule, "max_mg_per_kg_per_day")
    drug = ctx.drug.id if ctx.drug else ctx.order.drug
    if per_day is not None and daily > per_day:
        _fire(
            ctx,
            rule,
            f"{drug} {format_mg(daily)}/day is above the {format_mg(per_day)}/day "
            f"{what} ({_indication_name(ctx)})",
            f"Total daily dose {format_mg(daily)}{_how_taken(ctx.order)}; {what}: "
            f"{format_mg(per_day)}/day.",
        )
    if per_kg is not None:
        weight = ctx.patient.weight_kg
        if weight is None:
            _skip(ctx, rule, f"the {what} is per kg of body weight and no weight was given")
            return
        mg_per_kg = daily / weight
        if mg_per_kg > per_kg:
            shown = mg_per_kg.quantize(Decimal("0.001"))
            _fire(
                ctx,
                rule,
                f"{drug} {shown} mg/kg/day is above the {per_kg} mg/kg/day {what} "
                f"({_indication_name(ctx)})",
                f"Total daily dose {format_mg(daily)} for {weight.normalize():f} kg is "
                f"{shown} mg/kg/day; {what}: {per_kg} mg/kg/day.",
            )


def _dose_rule(fn: Callable[[Rule, _Context, Decimal], None]) -> _Handler:
    """A dose rule needs the daily dose: without it the rule is reported as not evaluated."""

    def run(rule: Rule, ctx: _Context) -> None:
        if ctx.daily_mg is None:
            _skip(ctx, rule, "the dose per day is not known (dose in mg or frequency missing)")
        else:
            fn(rule, ctx, ctx.daily_mg)

    return run


@_handler("max-daily-dose")
@_dose_rule
def _max_daily_dose(rule: Rule, ctx: _Context, daily: Decimal) -> None:
    _dose_limit(rule, ctx, daily, "labelled maximum")


@_handler("initial-daily-dose")
@_dose_rule
def _initial_daily_dose(rule: Rule, ctx: _Context, daily: Decimal) -> None:
    if ctx.order.prior_daily_mg is None:
        _dose_limit(rule, ctx, daily, "recommended initial dose")


@_handler("titration")
@_dose_rule
def _titration(rule: Rule, ctx: _Context, daily: Decimal) -> None:
    prior = ctx.order.prior_daily_mg
    if prior is None:
        return
    increase = daily - prior
    if increase <= 0:
        return
    max_step = _param(rule, "max_increase_mg_per_day")
    min_days = int(rule.params["min_interval_days"])
    drug = ctx.drug.id if ctx.drug else ctx.order.drug
    step_text = f"{format_mg(prior)}/day to {format_mg(daily)}/day"
    if max_step is not None and increase > max_step:
        _fire(
            ctx,
            rule,
            f"{drug} increase of {format_mg(increase)}/day exceeds the {format_mg(max_step)} "
            f"labelled step",
            f"From {step_text}; the labelled step is at most {format_mg(max_step)}/day "
            f"every {min_days} days.",
        )
        return
    start, prior_start = ctx.order.start, ctx.order.prior_start
    if start is None or prior_start is None:
        _skip(ctx, rule, "the interval since the prior dose needs its start date and the new one")
        return
    days = (start - prior_start).days
    if days < min_days:
        _fire(
            ctx,
            rule,
            f"{drug} increased after {days} days; the label allows a step every {min_days} days",
            f"From {step_text} after {days} days (prior dose started {prior_start}).",
        )


@_handler("paediatric-weight")
def _paediatric_weight(rule: Rule, ctx: _Context) -> None:
    if ctx.patient.weight_kg is not None:
        return
    defn = ctx.kb.populations.paediatric
    if ctx.paediatric is True:
        _skip(ctx, rule, "a child's dose limits are per kg of body weight; no weight was given")
    elif ctx.patient.age_years is None:
        _skip(ctx, rule, "neither age nor weight is on record: the paediatric regimen may apply")
    elif ctx.paediatric is None:
        _skip(
            ctx,
            rule,
            f"at age {ctx.patient.age_years.normalize():f} the paediatric regimen applies at "
            f"{defn.max_weight_kg} kg or less; no weight was given",
        )


@_handler("older-adult")
def _older_adult(rule: Rule, ctx: _Context) -> None:
    threshold = ctx.kb.populations.older_adult.min_age_years
    if ctx.patient.age_years is None:
        _skip(ctx, rule, "the patient's age is not on record")
    elif ctx.patient.age_years >= threshold:
        _fire(
            ctx,
            rule,
            f"Age {ctx.patient.age_years.normalize():f}: benzodiazepines are best avoided "
            f"at {threshold} and over (falls, delirium)",
            f"The patient is {ctx.patient.age_years.normalize():f} years old.",
        )


def _class_members(ctx: _Context, classes: list[str]) -> list[CoMedication]:
    return [m for m in ctx.patient.also_taking if m.classified and m.classified.class_id in classes]


@_handler("concurrent-class")
def _concurrent_class(rule: Rule, ctx: _Context) -> None:
    classes: list[str] = list(rule.params.get("classes", []))
    meds = _class_members(ctx, classes)
    conditions = [c for c in ctx.patient.conditions if c in rule.params.get("conditions", [])]
    if not meds and not conditions:
        return
    names = [m.name for m in meds] + [ctx.kb.conditions[c].name.lower() for c in conditions]
    listed = ", ".join(names)
    if OPIOID in classes:
        parts, total, unknown = [], Decimal(0), []
        for med in meds:
            mme = mme_per_day(ctx.kb, med)
            if mme is None:
                unknown.append(med.name)
            else:
                total += mme
                parts.append(f"{med.text}: {mme.normalize():f} MME/day")
        mme_text = f"{total.normalize():f} MME/day" if parts else "MME/day unknown"
        if parts and unknown:
            mme_text = f"at least {mme_text}"
        detail = "Opioids: " + ("; ".join(parts) if parts else listed) + "."
        if unknown:
            detail += f" No MME computed for {', '.join(unknown)} (dose or factor unknown)."
        _fire(
            ctx,
            rule,
            f"Opioid with a benzodiazepine ({listed}; {mme_text}): risk of "
            "fatal respiratory depression",
            detail,
        )
        return
    _fire(
        ctx,
        rule,
        f"Another CNS depressant with the benzodiazepine: {listed}",
        f"Current: {listed}.",
    )


@_handler("duplicate-class")
def _duplicate(rule: Rule, ctx: _Context) -> None:
    meds = _class_members(ctx, [BENZODIAZEPINE])
    if meds:
        names = ", ".join(m.text for m in meds)
        _fire(ctx, rule, f"Another benzodiazepine is current: {names}", f"Also taking: {names}.")


@_handler("condition")
def _condition(rule: Rule, ctx: _Context) -> None:
    wanted = rule.params.get("conditions", [])
    present = [c for c in ctx.patient.conditions if c in wanted]
    if present:
        names = ", ".join(ctx.kb.conditions[c].name for c in present)
        _fire(ctx, rule, f"{rule.title}", f"Recorded condition: {names}.")


@_handler("long-term")
def _long_term(rule: Rule, ctx: _Context) -> None:
    days = ctx.order.duration_days
    limit = int(rule.params["reassess_after_days"])
    if days is None:
        _skip(ctx, rule, "no planned duration was given")
    elif days > limit:
        _fire(
            ctx,
            rule,
            f"Planned {days} days: reassess at least every {limit} days; dependence risk "
            "rises with duration",
            f"Planned duration {days} days.",
        )


@_handler("refill-count")
def _refill_count(rule: Rule, ctx: _Context) -> None:
    limit = int(rule.params["max_refills"])
    if ctx.order.refills > limit:
        _fire(
            ctx,
            rule,
            f"{ctx.order.refills} refills: Schedule IV allows at most {limit}",
            f"The order has {ctx.order.refills} refills.",
        )


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@_handler("refill-window")
def _refill_window(rule: Rule, ctx: _Context) -> None:
    order = ctx.order
    if order.refills == 0:
        return
    issued = order.issued or order.start
    supply = order.days_supply
    if supply is None and order.duration_days is not None:
        supply = order.duration_days // (order.refills + 1)
    if issued is None or supply is None:
        _skip(ctx, rule, "needs the issue (or start) date and the days' supply (or duration)")
        return
    months = int(rule.params["max_months_from_issue"])
    limit = _add_months(issued, months)
    last_due = issued + timedelta(days=supply * order.refills)
    late = last_due > limit if rule.params.get("anniversary_allowed", True) else last_due >= limit
    if late:
        _fire(
            ctx,
            rule,
            f"Last refill due {last_due}, after {limit}: Schedule IV refills end {months} "
            "months after issue",
            f"Issued {issued}; {order.refills} refills of {supply} days each; the last falls due "
            f"{last_due}.",
        )


@_handler("unknown-drug")
def _unknown_drug(rule: Rule, ctx: _Context) -> None:
    if ctx.drug is None:
        _fire(
            ctx,
            rule,
            f"{ctx.order.drug!r} is not in the knowledge base: nothing was checked",
            f"{ctx.order.drug!r} is not a benzodiazepine known to benzosafe "
            f"({', '.join(sorted(ctx.kb.benzodiazepines))}).",
        )


@_handler("dose-coverage")
def _dose_coverage(rule: Rule, ctx: _Context) -> None:
    if ctx.drug is None:
        return
    covering = [
        r
        for r in ctx.kb.rules.values()
        if r.kind == "max-daily-dose"
        and r.drug == ctx.drug.id
        and ctx.order.indication in r.indications
        and _population_matches(r, ctx) is not False
    ]
    if not covering:
        indication = _indication_name(ctx)
        _skip(
            ctx,
            rule,
            f"no labelled maximum daily dose of {ctx.drug.id} for {indication} in this "
            "population is in the knowledge base",
            code="dose-above-maximum",
        )


def paediatric_status(kb: KnowledgeBase, patient: Patient) -> bool | None:
    """True, False, or None when it depends on a weight that was not given."""
    defn = kb.populations.paediatric
    adult_age = kb.populations.adult.min_age_years
    age, weight = patient.age_years, patient.weight_kg
    if age is None:
        return None
    if age >= adult_age:
        return False
    young = age <= defn.max_age_years
    if weight is None:
        if defn.combine == "or":
            return True if young else None
        return None if young else False
    light = weight <= defn.max_weight_kg
    return (young or light) if defn.combine == "or" else (young and light)


def _population_matches(rule: Rule, ctx: _Context) -> bool | None:
    if rule.population == "any":
        return True
    age = ctx.patient.age_years
    if age is None:
        return None
    if rule.population == "adult":
        return age >= ctx.kb.populations.adult.min_age_years
    if rule.population == "older-adult":
        return age >= ctx.kb.populations.older_adult.min_age_years
    if ctx.paediatric is None:
        return None
    return ctx.paediatric if rule.population == "paediatric" else not ctx.paediatric


@cache
def _rules_in_order(kb: KnowledgeBase) -> tuple[Rule, ...]:
    missing = {r.kind for r in kb.rules.values()} - set(_HANDLERS)
    if missing:  # a data kind without code is a bug of ours; the test suite catches it
        raise KeyError(f"no handler for rule kinds {sorted(missing)}")
    return tuple(sorted(kb.rules.values(), key=lambda r: r.id))


def check_prescription(order: Order, patient: Patient, kb: KnowledgeBase) -> CheckReport:
    """Check one order for one patient against every applicable rule."""
    drug = find_benzodiazepine(kb, order.drug)
    ctx = _Context(
        kb=kb,
        order=order,
        patient=patient,
        drug=drug,
        daily_mg=order.daily_mg,
        paediatric=paediatric_status(kb, patient),
    )
    for rule in _rules_in_order(kb):
        if drug is None and rule.kind != "unknown-drug":
            continue
        if rule.drug and (drug is None or rule.drug != drug.id):
            continue
        if rule.indications and order.indication not in rule.indications:
            continue
        matches = _population_matches(rule, ctx)
        if matches is False:
            continue
        if matches is None:
            unknown = "age" if patient.age_years is None else "body weight"
            _skip(ctx, rule, f"whether this population applies depends on the {unknown}")
            continue
        _HANDLERS[rule.kind](rule, ctx)
    for med in patient.also_taking:
        if med.classified is None:
            ctx.not_evaluated.append(
                NotEvaluated(
                    "concurrent-cns-depressant",
                    "BZD-CNS-DEPRESSANT",
                    f"{med.name!r} is not in the knowledge base; its interactions were not checked",
                )
            )
    daily = order.daily_mg
    dz = diazepam_equivalent(drug, daily) if drug and daily is not None else None
    return CheckReport(
        drug=drug.id if drug else order.drug,
        findings=tuple(sorted(ctx.findings, key=lambda f: -SEVERITY_RANK[f.severity])),
        not_evaluated=tuple(ctx.not_evaluated),
        daily_dose_mg=daily.normalize() if daily is not None else None,
        diazepam_equivalent_mg_per_day=dz.normalize() if dz is not None else None,
        equivalence_table=table_used(drug) if drug else "none",
        knowledge_version=kb.version,
        protocol=protocol_of(kb),
    )


def check_raw(
    order: Mapping[str, Any], patient: Mapping[str, Any], kb: KnowledgeBase
) -> CheckReport:
    """Parse the public JSON shape of an order and a patient, and check the order."""
    return check_prescription(parse_order(order, kb), parse_patient(patient, kb), kb)
