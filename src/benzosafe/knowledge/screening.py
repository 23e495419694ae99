"""The population-screening measures (``knowledge/data/screening.toml``): models and loader.

Each measure is a cited rule with a stable id, a version, typed parameters for its kind,
a status (``cited``, or ``draft`` with the reason when its definition is a project choice)
and cases that fire and stay silent. :func:`load_screening_from` validates the file once and
checks every citation and every drug named against the main knowledge base.
"""

from __future__ import annotations

from decimal import Decimal
from importlib.abc import Traversable
from typing import Any, Literal

from pydantic import Field, model_validator

from benzosafe.errors import KnowledgeError
from benzosafe.knowledge.loader import check_citations, read_toml, validated
from benzosafe.knowledge.models import Cited, KnowledgeBase, Strict
from benzosafe.knowledge.values import Severity

MeasureKind = Literal[
    "cob",
    "multiple-provider",
    "long-term",
    "high-dose",
    "escalation",
    "early-refill",
    "older-adult",
    "deprescribing",
]


class CobParams(Strict):
    min_age_years: int = Field(ge=0)
    min_opioid_claims: int = Field(ge=1)
    min_opioid_days_supply: int = Field(ge=1)
    min_benzodiazepine_claims: int = Field(ge=1)
    min_overlap_days: int = Field(ge=1)
    exclusion_reasons: list[str] = Field(min_length=1)


class MultipleProviderParams(Strict):
    drug_class: Literal["opioids", "benzodiazepines"]
    exclude_ingredients: list[str]
    min_prescribers: int = Field(ge=1)
    min_pharmacies: int = Field(ge=1)
    window_days: int = Field(ge=1)


class LongTermParams(Strict):
    min_run_days: int = Field(ge=1)
    max_gap_days: int = Field(ge=0)


class HighDoseParams(Strict):
    band: Literal["high"]


class EscalationParams(Strict):
    min_band_rise: int = Field(ge=1, le=2)


class EarlyRefillParams(Strict):
    """A fill is early when less than ``min_supply_elapsed_pct`` % of the previous fill's
    days' supply had passed; ``previous_fill`` says which fill is the previous one."""

    previous_fill: Literal["same-ingredient"]
    min_supply_elapsed_pct: int = Field(ge=1, le=100)


class AgeParams(Strict):
    min_age_years: int = Field(ge=0)


class DeprescribingParams(Strict):
    min_age_years: int = Field(ge=0)
    decrease_pct: list[int] = Field(min_length=1)


PARAMS: dict[str, type[Strict]] = {
    "cob": CobParams,
    "multiple-provider": MultipleProviderParams,
    "long-term": LongTermParams,
    "high-dose": HighDoseParams,
    "escalation": EscalationParams,
    "early-refill": EarlyRefillParams,
    "older-adult": AgeParams,
    "deprescribing": DeprescribingParams,
}


class CaseFill(Strict):
    """One dispensing of a rule case; ``day`` counts from the start of the case."""

    day: int = Field(ge=0)
    drug: str
    days_supply: int
    quantity: Decimal
    strength_mg: Decimal
    prescriber: str = "d1"
    pharmacy: str = "r1"


class MeasureCase(Strict):
    name: str
    fires: bool
    age: int = 50
    excluded: str = ""
    fills: list[CaseFill] = Field(min_length=1)


class Measure(Strict):
    """One screening measure or flag."""

    id: str = Field(pattern=r"^SCR(-[A-Z0-9]+)+$")
    version: int = Field(ge=1)
    code: str
    severity: Severity
    kind: MeasureKind
    status: Literal["cited", "draft"]
    draft_reason: str = ""
    title: str
    summary: str = Field(max_length=139)
    detail: str
    params: dict[str, Any]
    sources: Cited = Field(min_length=1)
    cases: list[MeasureCase] = Field(min_length=2)

    @model_validator(mode="after")
    def _check(self) -> Measure:
        if (self.status == "draft") != bool(self.draft_reason):
            raise ValueError("a draft measure needs draft_reason, a cited one none")
        if not any(c.fires for c in self.cases) or all(c.fires for c in self.cases):
            raise ValueError("needs at least one case that fires and one that stays silent")
        PARAMS[self.kind].model_validate(self.params)
        return self

    def typed_params(self) -> Any:
        """The parameters validated into the model of this measure's kind."""
        return PARAMS[self.kind].model_validate(self.params)


class Screening(Strict):
    version: str
    measure: list[Measure] = Field(min_length=1)

    def by_id(self) -> dict[str, Measure]:
        return {m.id: m for m in self.measure}


def check_screening(screening: Screening, kb: KnowledgeBase) -> None:
    """Cross-check citations, ids and ingredient names against the knowledge base."""
    check_citations(screening, kb, "screening.toml")
    ids = [m.id for m in screening.measure]
    if len(set(ids)) != len(ids):
        raise KnowledgeError("screening.toml: duplicate measure ids")
    ingredients = {i.id for c in kb.depressant_classes.values() for i in c.ingredients}
    for m in screening.measure:
        params = m.typed_params()
        if isinstance(params, MultipleProviderParams):
            unknown = set(params.exclude_ingredients) - ingredients - set(kb.benzodiazepines)
            if unknown:
                raise KnowledgeError(f"screening.toml {m.id}: unknown ingredients {unknown}")


def load_screening_from(root: Traversable, kb: KnowledgeBase) -> Screening:
    """Load and check ``screening.toml`` below ``root``."""
    screening = validated(Screening, read_toml(root.joinpath("screening.toml")), "screening.toml")
    check_screening(screening, kb)
    return screening
