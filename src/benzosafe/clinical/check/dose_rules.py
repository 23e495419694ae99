"""The dose rules of the check: labelled maxima, initial doses, titration, the paediatric
maintenance range, the drug's highest labelled maximum, and what could not be checked.

Each handler is registered for its rule kind (:func:`~benzosafe.clinical.check.context.handler`);
the numbers are the rule's ``params`` in ``knowledge/data/rules``. A rule that needs the daily
dose or a body weight that is missing is reported as not evaluated, never as within limits.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING

from benzosafe.clinical.check.context import (
    Context,
    Handler,
    fire,
    handler,
    how_taken,
    indication_name,
    param,
    population_matches,
    skip,
)
from benzosafe.units import format_mg

if TYPE_CHECKING:
    from benzosafe.knowledge.models import KnowledgeBase, Rule


def _dose_limit(rule: Rule, ctx: Context, daily: Decimal, what: str) -> None:
    per_day = param(rule, "max_mg_per_day")
    per_kg = param(rule, "max_mg_per_kg_per_day")
    drug = ctx.drug_name
    if per_day is not None and daily > per_day:
        fire(
            ctx,
            rule,
            f"{drug} {format_mg(daily)}/day is above the {format_mg(per_day)}/day "
            f"{what} ({indication_name(ctx)})",
            f"Total daily dose {format_mg(daily)}{how_taken(ctx.order)}; {what}: "
            f"{format_mg(per_day)}/day.",
        )
    if per_kg is not None:
        weight = ctx.patient.weight_kg
        if weight is None:
            skip(ctx, rule, f"the {what} is per kg of body weight and no weight was given")
            return
        mg_per_kg = daily / weight
        if mg_per_kg > per_kg:
            shown = mg_per_kg.quantize(Decimal("0.001"))
            fire(
                ctx,
                rule,
                f"{drug} {shown} mg/kg/day is above the {per_kg} mg/kg/day {what} "
                f"({indication_name(ctx)})",
                f"Total daily dose {format_mg(daily)} for {weight.normalize():f} kg is "
                f"{shown} mg/kg/day; {what}: {per_kg} mg/kg/day.",
            )


def _dose_rule(fn: Callable[[Rule, Context, Decimal], None]) -> Handler:
    """A dose rule needs the daily dose: without it the rule is reported as not evaluated."""

    def run(rule: Rule, ctx: Context) -> None:
        if ctx.daily_mg is None:
            skip(ctx, rule, ctx.order.dose_note or
                 "the dose per day is not known (dose in mg or frequency missing)")  # fmt: skip
        else:
            fn(rule, ctx, ctx.daily_mg)

    return run


@handler("max-daily-dose")
@_dose_rule
def _max_daily_dose(rule: Rule, ctx: Context, daily: Decimal) -> None:
    _dose_limit(rule, ctx, daily, "labelled maximum")


@handler("initial-daily-dose")
@_dose_rule
def _initial_daily_dose(rule: Rule, ctx: Context, daily: Decimal) -> None:
    if ctx.order.prior_daily_mg is None:
        _dose_limit(rule, ctx, daily, "recommended initial dose")


@handler("maintenance-range")
@_dose_rule
def _maintenance_range(rule: Rule, ctx: Context, daily: Decimal) -> None:
    """Above the top of a labelled maintenance range per kg: a target, not a maximum."""
    low, high = param(rule, "min_mg_per_kg_per_day"), param(rule, "max_mg_per_kg_per_day")
    weight = ctx.patient.weight_kg
    if high is None:
        return
    if weight is None:
        skip(ctx, rule, "the labelled maintenance range is per kg of body weight and no "
             "weight was given")  # fmt: skip
        return
    per_kg = daily / weight
    if per_kg > high:
        shown = per_kg.quantize(Decimal("0.001"))
        span = f"{low}-{high}" if low is not None else f"up to {high}"
        fire(
            ctx,
            rule,
            f"{ctx.drug_name} {shown} mg/kg/day is above the labelled maintenance range "
            f"{span} mg/kg/day ({indication_name(ctx)})",
            f"Total daily dose {format_mg(daily)} for {weight.normalize():f} kg is {shown} "
            f"mg/kg/day; the label's maintenance range is {span} mg/kg/day.",
        )


@cache
def _limits(
    kb: KnowledgeBase, drug: str | None, indication: str | None, kinds: tuple[str, ...]
) -> tuple[Rule, ...]:
    return tuple(
        r
        for r in kb.rules.values()
        if r.kind in kinds and r.drug == drug and indication in r.indications
    )


def _covering(ctx: Context, kinds: tuple[str, ...], sure: bool) -> list[Rule]:
    """The dose-limit rules of these kinds for the ordered drug, its indication and the
    patient's population (``sure``: only those whose population surely matches)."""
    drug = ctx.drug.id if ctx.drug else None
    wanted = (True,) if sure else (True, None)
    return [
        r
        for r in _limits(ctx.kb, drug, ctx.order.indication, kinds)
        if population_matches(r, ctx) in wanted
    ]


@handler("highest-maximum")
@_dose_rule
def _highest_maximum(rule: Rule, ctx: Context, daily: Decimal) -> None:
    """Above the drug's highest labelled maximum, whatever the indication (unknown or
    off-label) or population, unless a labelled maximum of this indication and population
    was checked (it is never higher)."""
    if any("max_mg_per_day" in r.params for r in _covering(ctx, ("max-daily-dose",), True)):
        return
    _dose_limit(rule, ctx, daily, "highest labelled maximum of the drug")


@handler("titration")
@_dose_rule
def _titration(rule: Rule, ctx: Context, daily: Decimal) -> None:
    prior = ctx.order.prior_daily_mg
    if prior is None:
        return
    increase = daily - prior
    if increase <= 0:
        return
    max_step = param(rule, "max_increase_mg_per_day")
    min_days = int(rule.params["min_interval_days"])
    drug = ctx.drug_name
    step_text = f"{format_mg(prior)}/day to {format_mg(daily)}/day"
    if max_step is not None and increase > max_step:
        fire(
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
        skip(ctx, rule, "the interval since the prior dose needs its start date and the new one")
        return
    days = (start - prior_start).days
    if days < min_days:
        fire(
            ctx,
            rule,
            f"{drug} increased after {days} days; the label allows a step every {min_days} days",
            f"From {step_text} after {days} days (prior dose started {prior_start}).",
        )


@handler("paediatric-weight")
def _paediatric_weight(rule: Rule, ctx: Context) -> None:
    if ctx.patient.weight_kg is not None:
        return
    defn = ctx.kb.populations.paediatric
    if ctx.paediatric is True:
        skip(ctx, rule, "a child's dose limits are per kg of body weight; no weight was given")
    elif ctx.patient.age_years is None:
        skip(ctx, rule, "neither age nor weight is on record: the paediatric regimen may apply")
    elif ctx.paediatric is None:
        skip(
            ctx,
            rule,
            f"at age {ctx.patient.age_years.normalize():f} the paediatric regimen applies at "
            f"{defn.max_weight_kg} kg or less; no weight was given",
        )


@handler("dose-coverage")
def _dose_coverage(rule: Rule, ctx: Context) -> None:
    if ctx.drug is None:
        return
    if _covering(ctx, ("max-daily-dose", "maintenance-range"), False):
        return
    highest = _limits(ctx.kb, ctx.drug.id, None, ("highest-maximum",))
    limit = param(highest[0], "max_mg_per_day") if highest else None
    also = (
        f"; only the drug's highest labelled maximum ({format_mg(limit)}/day) was checked"
        if limit is not None
        else ""
    )
    unknown = f"; {ctx.order.dose_note}" if ctx.daily_mg is None and ctx.order.dose_note else ""
    skip(
        ctx,
        rule,
        f"no labelled maximum daily dose of {ctx.drug.id} for {indication_name(ctx)} in this "
        f"population is in the knowledge base{also}{unknown}",
        code="dose-above-maximum",
    )
