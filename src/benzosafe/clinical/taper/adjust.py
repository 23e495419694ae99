"""Adjusting a plan and reading it day by day.

:func:`adjust_plan` holds (repeats the current step) or slows (lengthens the remaining steps)
a plan, never speeds it up, and returns a new plan whose history gains the version; the steps
after the change are re-dated so they stay contiguous. :func:`daily_series` lists each day of
a plan with its dose, for charts, calendars and the bound's own check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from benzosafe.clinical.taper.model import Action, PlanVersion, TaperPlan, TaperStep
from benzosafe.errors import InvalidInput
from benzosafe.knowledge import Knowledge
from benzosafe.units import format_mg


def adjust_plan(
    plan: TaperPlan,
    kb: Knowledge,
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
    chosen: Action = action or kb.taper.adjust.default_action
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
