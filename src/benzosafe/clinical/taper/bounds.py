"""The taper's bounds as functions: the window bound, the low dose band, diazepam equivalents.

:func:`window_bound` reads the cited bound (no more than a percent of the dose within any
window of days) from the taper knowledge and :func:`window_violations` finds the days a
series of doses breaks it; :func:`in_low_band` says whether a dose is in the guideline's low
band, where the forms may force a larger step. :func:`starting_pace_cut` measures a strategy's
own pace against the guideline's starting pace (a warning, not a bound). :func:`rule_fires`
evaluates each taper rule
on its documented cases, so that the data's cases test the same code the planner runs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from benzosafe.clinical.equivalence import diazepam_equivalent
from benzosafe.clinical.taper.model import HUNDRED, ZERO
from benzosafe.errors import InvalidInput
from benzosafe.knowledge import Knowledge
from benzosafe.knowledge.models import KnowledgeBase
from benzosafe.knowledge.taper import TaperKnowledge, TaperRule
from benzosafe.units import parse_mass


def window_bound(tk: TaperKnowledge) -> tuple[Decimal, int]:
    """The bound as (largest fraction of the dose cut, window in days)."""
    rule = tk.rule("window-bound")
    return Decimal(str(rule.params["max_reduction_percent"])) / HUNDRED, int(
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


def starting_pace_limit(tk: TaperKnowledge) -> tuple[Decimal, int]:
    """The starting pace as (largest fraction of the dose cut without a warning, window days)."""
    rule = tk.rule("starting-pace")
    return Decimal(str(rule.params["max_reduction_percent"])) / HUNDRED, int(
        rule.params["window_days"]
    )


def cuts_within(every_days: int, window_days: int) -> int:
    """How many cuts, one every ``every_days``, can fall within one window of days."""
    return math.ceil((window_days - 1) / every_days)


def starting_pace_cut(
    kind: str,
    every_days: int,
    window_days: int,
    daily_mg: Decimal,
    percent: Decimal | None = None,
    amount_mg: Decimal | None = None,
) -> Decimal:
    """The fraction of the dose a strategy cuts within one window at its own pace: a percent
    of the current dose compounds; a fixed amount (or the label's schedule, an amount per
    period) counts against the starting daily dose."""
    cuts = cuts_within(every_days, window_days)
    if kind == "percent" and percent is not None:
        return 1 - (1 - percent / HUNDRED) ** cuts
    if amount_mg is not None and daily_mg > 0:
        return min(amount_mg * cuts / daily_mg, Decimal(1))
    return ZERO


def steps_pace_violations(
    daily: Sequence[Decimal], max_fraction: Decimal, window_days: int
) -> list[int]:
    """Days of explicit steps cut faster than ``max_fraction`` within a window; the final stop
    is left aside (the low-dose tail has its own rule)."""
    return [j for j in window_violations(daily, max_fraction, window_days) if daily[j] > 0]


def in_low_band(kb: Knowledge, drug: str, daily_mg: Decimal) -> bool:
    """Whether a daily dose is within the guideline's low dose band (per-drug mg as printed,
    else diazepam-equivalent), as held in the assessment data's dose bands."""
    bands = kb.assessment.level_of_care.dose_bands
    per_drug = next((b for b in bands.per_drug if b.drug == drug), None)
    if per_drug is not None:
        return daily_mg <= per_drug.low_max_mg
    return diazepam_equivalent_mg(kb, drug, daily_mg) <= bands.diazepam_equivalent.low_max_mg


def rule_fires(rule: TaperRule, case_input: dict[str, Any], kb: Knowledge) -> bool:
    """Evaluate one taper rule on a case input (the shapes documented in taper.toml)."""
    tk = kb.taper
    if rule.kind == "window-bound":
        max_fraction, window = window_bound(tk)
        daily: list[Decimal] = []
        for dose, days in case_input["doses"]:
            daily += [parse_mass(dose)] * int(days)
        return bool(window_violations(daily, max_fraction, window))
    if rule.kind == "tail-step":
        max_fraction, _ = window_bound(tk)
        src = parse_mass(case_input["from"])
        to = _mass_or_zero(case_input["to"])
        return (src - to) > src * max_fraction and in_low_band(kb, case_input["drug"], src)
    if rule.kind == "fixed-share":
        limit = Decimal(str(rule.params["max_reduction_percent"])) / HUNDRED
        return parse_mass(case_input["amount"]) > parse_mass(case_input["current"]) * limit
    if rule.kind == "starting-pace":
        limit, window = starting_pace_limit(tk)
        if "doses" in case_input:
            daily = []
            for dose, days in case_input["doses"]:
                daily += [_mass_or_zero(dose)] * int(days)
            return bool(steps_pace_violations(daily, limit, window))
        cut = starting_pace_cut(
            case_input["strategy"],
            int(case_input["every_days"]),
            window,
            parse_mass(case_input["dose"]),
            percent=Decimal(case_input["percent"]) if "percent" in case_input else None,
            amount_mg=parse_mass(case_input["amount"]) if "amount" in case_input else None,
        )
        return cut > limit
    if rule.kind == "short-course":
        return bool(case_input["strategy"] == "label-panic")
    return parse_mass(case_input["target"]) != parse_mass(case_input["made"])


def _mass_or_zero(text: str) -> Decimal:
    return ZERO if re.fullmatch(r"\s*0+(\.0+)?\s*mg\s*", text) else parse_mass(text)


def used_mg(kb: KnowledgeBase, drug: str) -> Decimal:
    """mg of ``drug`` taken as equal to 10 mg diazepam; an error when none is on record."""
    used = kb.benzodiazepines[drug].equivalence.used_mg
    if used is None:
        raise InvalidInput("drug", f"{drug} has no diazepam equivalent in the knowledge base")
    return used


def diazepam_equivalent_mg(kb: KnowledgeBase, drug: str, mg: Decimal) -> Decimal:
    """The diazepam-equivalent mg of ``mg`` of ``drug``; an error when none is on record."""
    de = diazepam_equivalent(kb.benzodiazepines[drug], mg)
    if de is None:
        used_mg(kb, drug)  # raises the error that names the drug
        raise InvalidInput("drug", f"{drug} has no diazepam equivalent in the knowledge base")
    return de
