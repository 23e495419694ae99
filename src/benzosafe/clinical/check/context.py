"""What every rule handler of the check shares: the context of one check and the registry.

A rule kind of the data (``rules/*.toml``) is handled by one function registered here with
:func:`handler` (in ``dose_rules``, ``medication_rules`` and ``rules``). A handler reads the
:class:`Context` (the order, the patient, the ordered drug, the daily dose) and reports with
:func:`fire` (a finding: code, severity, summary under 140 characters, detail, rule, sources)
or :func:`skip` (not evaluated, with the reason). Population matching lives here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING

from benzosafe.clinical.check.model import Order, Patient
from benzosafe.clinical.findings import Finding, NotEvaluated, SourceRef, source_refs
from benzosafe.clinical.medications import OrderedDrug
from benzosafe.knowledge.values import Severity
from benzosafe.units import format_mg

if TYPE_CHECKING:
    from benzosafe.knowledge.models import BenzodiazepineEntry, KnowledgeBase, Rule


@dataclass(slots=True)
class Context:
    kb: KnowledgeBase
    order: Order
    patient: Patient
    ordered: OrderedDrug
    daily_mg: Decimal | None
    paediatric: bool | None
    findings: list[Finding] = field(default_factory=list)
    not_evaluated: list[NotEvaluated] = field(default_factory=list)

    @property
    def drug(self) -> BenzodiazepineEntry | None:
        return self.ordered.entry

    @property
    def drug_name(self) -> str:
        return self.drug.id if self.drug else self.order.drug


Handler = Callable[["Rule", "Context"], None]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


@cache
def _sources(kb: KnowledgeBase, rule_id: str) -> tuple[SourceRef, ...]:
    return source_refs(kb, kb.rules[rule_id].sources)


def fire(
    ctx: Context, rule: Rule, summary: str, detail: str, severity: Severity | None = None
) -> None:
    """Report a finding of ``rule`` (at its severity, unless the data gives another for
    this case, e.g. a Beers exception)."""
    ctx.findings.append(
        Finding(
            code=rule.code,
            severity=severity or rule.severity,
            summary=summary if len(summary) < 140 else summary[:136] + "...",
            detail=f"{detail} {rule.checks}".strip(),
            rule=rule.id,
            rule_version=rule.version,
            sources=_sources(ctx.kb, rule.id),
        )
    )


def skip(ctx: Context, rule: Rule, reason: str, code: str | None = None) -> None:
    ctx.not_evaluated.append(NotEvaluated(code or rule.code, rule.id, reason))


def param(rule: Rule, name: str) -> Decimal | None:
    value = rule.params.get(name)
    return Decimal(str(value)) if value is not None else None


def indication_name(ctx: Context) -> str:
    if ctx.order.indication is None:
        return "no indication given"
    return ctx.kb.indications[ctx.order.indication].name.split(" (")[0].lower()


def how_taken(order: Order) -> str:
    if order.dose_mg is None or order.frequency is None:
        return ""
    return f" ({format_mg(order.dose_mg)} {order.frequency.label})"


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


def population_matches(rule: Rule, ctx: Context) -> bool | None:
    """Whether the rule's population is the patient's (None: it depends on what is missing)."""
    if rule.population == "any":
        return True
    age = ctx.patient.age_years
    if age is None:
        return None
    if rule.population == "adult":
        return age >= ctx.kb.populations.adult.min_age_years
    if rule.population == "non-adult":
        return age < ctx.kb.populations.adult.min_age_years
    if rule.population == "older-adult":
        return age >= ctx.kb.populations.older_adult.min_age_years
    if ctx.paediatric is None:
        return None
    return ctx.paediatric if rule.population == "paediatric" else not ctx.paediatric
