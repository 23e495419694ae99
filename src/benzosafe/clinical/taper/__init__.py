"""Supervised taper plans: guideline-bounded, made of doses a patient can take, adjustable.

:func:`plan_taper` turns a :class:`TaperRequest` (drug, daily dose and split, start date,
strategy, forms, optional switch to diazepam) into a :class:`TaperPlan`: contiguous steps
from the current dose down to zero, each dose a sum of units the patient has, each
reduction within the cited bound (no more than 25% within any 14 days) unless a clinician
overrides it with a reason. :func:`adjust_plan` holds or slows a plan, never speeds it up,
and keeps every version. Pure functions over typed values and the knowledge passed in: no
I/O, no clock, no files. The rooms: ``model`` (the values), ``parsing`` (text in),
``makeable`` (doses the forms can make), ``bounds`` (the cited bounds as functions),
``planning`` (the planner and its strategies), ``adjust`` (holds, slowing, the daily series).
"""

from benzosafe.clinical.taper.adjust import adjust_plan, daily_series
from benzosafe.clinical.taper.bounds import (
    diazepam_equivalent_mg,
    in_low_band,
    rule_fires,
    window_violations,
)
from benzosafe.clinical.taper.model import (
    TIMES,
    TIMES_OF_DAY,
    Action,
    Administration,
    BoundInfo,
    Dispense,
    DoseForm,
    PlanVersion,
    StepKind,
    Strategy,
    StrategyKind,
    Take,
    TaperPlan,
    TaperRequest,
    TaperStep,
)
from benzosafe.clinical.taper.parsing import (
    default_forms,
    parse_every,
    parse_forms,
    parse_liquid,
    parse_percent,
    parse_split,
    parse_steps_csv,
    parse_taper_request,
)
from benzosafe.clinical.taper.planning import plan_taper

__all__ = [
    "TIMES",
    "TIMES_OF_DAY",
    "Action",
    "Administration",
    "BoundInfo",
    "Dispense",
    "DoseForm",
    "PlanVersion",
    "StepKind",
    "Strategy",
    "StrategyKind",
    "Take",
    "TaperPlan",
    "TaperRequest",
    "TaperStep",
    "adjust_plan",
    "daily_series",
    "default_forms",
    "diazepam_equivalent_mg",
    "in_low_band",
    "parse_every",
    "parse_forms",
    "parse_liquid",
    "parse_percent",
    "parse_split",
    "parse_steps_csv",
    "parse_taper_request",
    "plan_taper",
    "rule_fires",
    "window_violations",
]
