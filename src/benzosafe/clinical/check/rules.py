"""The prescription check: one order for one patient against every applicable rule.

:func:`check_prescription` is pure: it takes a parsed :class:`Order` and :class:`Patient`
and the knowledge, and returns a :class:`CheckReport` whose findings each carry a stable
code, a severity, a one-line summary (under 140 characters, fit for a CDS card), a detail,
the rule id and version, and the sources. Rules that could not be evaluated are listed
under ``not_evaluated`` with the reason, never treated as safe. Each rule kind has one
handler (here: populations, conditions, duration and refills; the dose rules in
``dose_rules``, the medication rules in ``medication_rules``); the numbers live in
``knowledge/data/rules``. :func:`check_raw` parses the public JSON shape of both and checks
them, the sequence every face needs.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import date, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from benzosafe.clinical.check import dose_rules, medication_rules
from benzosafe.clinical.check.context import (
    HANDLERS,
    Context,
    Handler,
    fire,
    handler,
    paediatric_status,
    population_matches,
    skip,
)
from benzosafe.clinical.check.model import CheckReport, Order, Patient
from benzosafe.clinical.check.parsing import parse_order, parse_patient
from benzosafe.clinical.equivalence import diazepam_equivalent, table_used
from benzosafe.clinical.findings import SEVERITY_RANK
from benzosafe.clinical.medications import ordered_drug
from benzosafe.knowledge.values import protocol_of

if TYPE_CHECKING:
    from benzosafe.knowledge.models import KnowledgeBase, Rule

# The handlers of these modules register themselves on import.
_REGISTERED = (dose_rules, medication_rules)


def _indications(ctx: Context, ids: list[str]) -> str:
    return _indication_names(ctx.kb, tuple(ids))


@cache
def _indication_names(kb: KnowledgeBase, ids: tuple[str, ...]) -> str:
    names = (kb.indications[i].name.split(" (")[0] for i in ids)
    # "Seizure disorders" reads "seizure disorders" in a sentence; "REM ..." stays as it is.
    return ", ".join(n if n[1:2].isupper() else n[:1].lower() + n[1:] for n in names)


@handler("older-adult")
def _older_adult(rule: Rule, ctx: Context) -> None:
    """Beers: avoid at 65 and over; the uses where it "may be appropriate" are named, and
    when the indication is one of them the finding takes the rule's exception severity."""
    threshold = ctx.kb.populations.older_adult.min_age_years
    age = ctx.patient.age_years
    if age is None:
        skip(ctx, rule, "the patient's age is not on record")
        return
    if age < threshold:
        return
    exceptions: list[str] = list(rule.params.get("exceptions", []))
    named = f" May be appropriate for: {_indications(ctx, exceptions)}." if exceptions else ""
    indication = ctx.order.indication
    if indication in exceptions:
        fire(
            ctx,
            rule,
            f"Age {age.normalize():f}, {_indications(ctx, [indication])}: one of the uses "
            "where Beers says a benzodiazepine may be appropriate",
            f"The patient is {age.normalize():f} years old.{named} The indication given is "
            "one of them.",
            severity=rule.params.get("exception_severity", rule.severity),
        )
        return
    fire(
        ctx,
        rule,
        f"Age {age.normalize():f}: benzodiazepines are best avoided at {threshold} and over "
        "(falls, delirium)",
        f"The patient is {age.normalize():f} years old.{named}",
    )


@handler("not-established")
def _not_established(rule: Rule, ctx: Context) -> None:
    """A use the label says is not established in this population (panic disorder below
    18): reported whatever the dose."""
    age = ctx.patient.age_years
    adult = ctx.kb.populations.adult.min_age_years
    shown = f"{age.normalize():f}" if age is not None else "unknown"
    fire(
        ctx,
        rule,
        f"{_indications(ctx, [ctx.order.indication] if ctx.order.indication else [])} at "
        f"age {shown}: safety and effectiveness are not established below {adult} (label)",
        f"The patient is {shown} years old.",
    )


@handler("condition")
def _condition(rule: Rule, ctx: Context) -> None:
    wanted = rule.params.get("conditions", [])
    present = [c for c in ctx.patient.conditions if c in wanted]
    if present:
        names = ", ".join(ctx.kb.conditions[c].name for c in present)
        fire(ctx, rule, f"{rule.title}", f"Recorded condition: {names}.")


@handler("long-term")
def _long_term(rule: Rule, ctx: Context) -> None:
    days = ctx.order.duration_days
    limit = int(rule.params["reassess_after_days"])
    if days is None:
        skip(ctx, rule, "no planned duration was given")
    elif days > limit:
        fire(
            ctx,
            rule,
            f"Planned {days} days: reassess at least every {limit} days; dependence risk "
            "rises with duration",
            f"Planned duration {days} days.",
        )


@handler("refill-count")
def _refill_count(rule: Rule, ctx: Context) -> None:
    limit = int(rule.params["max_refills"])
    if ctx.order.refills > limit:
        fire(
            ctx,
            rule,
            f"{ctx.order.refills} refills: Schedule IV allows at most {limit}",
            f"The order has {ctx.order.refills} refills.",
        )


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@handler("refill-window")
def _refill_window(rule: Rule, ctx: Context) -> None:
    order = ctx.order
    if order.refills == 0:
        return
    issued = order.issued or order.start
    supply = order.days_supply
    if supply is None and order.duration_days is not None:
        supply = order.duration_days // (order.refills + 1)
    if issued is None or supply is None:
        skip(ctx, rule, "needs the issue (or start) date and the days' supply (or duration)")
        return
    months = int(rule.params["max_months_from_issue"])
    limit = _add_months(issued, months)
    last_due = issued + timedelta(days=supply * order.refills)
    late = last_due > limit if rule.params.get("anniversary_allowed", True) else last_due >= limit
    if late:
        fire(
            ctx,
            rule,
            f"Last refill due {last_due}, after {limit}: Schedule IV refills end {months} "
            "months after issue",
            f"Issued {issued}; {order.refills} refills of {supply} days each; the last falls due "
            f"{last_due}.",
        )


@cache
def _rules_in_order(kb: KnowledgeBase) -> tuple[Rule, ...]:
    missing = {r.kind for r in kb.rules.values()} - set(HANDLERS)
    if missing:  # a data kind without code is a bug of ours; the test suite catches it
        raise KeyError(f"no handler for rule kinds {sorted(missing)}")
    return tuple(sorted(kb.rules.values(), key=lambda r: r.id))


@cache
def _applicable(
    kb: KnowledgeBase, drug: str | None, indication: str | None
) -> tuple[tuple[Rule, Handler], ...]:
    """The rules of a drug (None: not a known benzodiazepine) and an indication, in order,
    with their handlers: worked out once per pair, not per check."""
    out = []
    for rule in _rules_in_order(kb):
        if drug is None and rule.kind != "unknown-drug":
            continue
        if rule.drug and rule.drug != drug:
            continue
        if rule.indications and indication not in rule.indications:
            continue
        out.append((rule, HANDLERS[rule.kind]))
    return tuple(out)


def check_prescription(order: Order, patient: Patient, kb: KnowledgeBase) -> CheckReport:
    """Check one order for one patient against every applicable rule."""
    ordered = ordered_drug(kb, order.drug, "order.drug")
    drug = ordered.entry
    ctx = Context(
        kb=kb,
        order=order,
        patient=patient,
        ordered=ordered,
        daily_mg=order.daily_mg,
        paediatric=paediatric_status(kb, patient),
    )
    for rule, run in _applicable(kb, drug.id if drug else None, order.indication):
        matches = population_matches(rule, ctx)
        if matches is False:
            continue
        if matches is None:
            unknown = "age" if patient.age_years is None else "body weight"
            skip(ctx, rule, f"whether this population applies depends on the {unknown}")
            continue
        run(rule, ctx)
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
