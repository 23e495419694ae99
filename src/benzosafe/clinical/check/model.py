"""The values of a prescription check: the :class:`Order`, the :class:`Patient` and the
:class:`CheckReport`, with the public finding codes and the rule kinds that only ever
report what was not evaluated. ``CheckReport.to_dict`` is the public JSON shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from benzosafe.clinical.findings import SEVERITY_RANK, Finding, NotEvaluated, Severity
from benzosafe.clinical.medications import CoMedication
from benzosafe.knowledge.values import protocol_fields
from benzosafe.units import Frequency

if TYPE_CHECKING:
    from benzosafe.knowledge.values import ProtocolInfo

# The public finding codes (a contract: stable, documented in docs/rules.md).
FINDING_CODES = (
    "dose-above-maximum",
    "initial-dose-above-recommended",
    "titration-too-fast",
    "paediatric-dose-needs-weight",
    "older-adult",
    "concurrent-opioid",
    "concurrent-cns-depressant",
    "duplicate-benzodiazepine",
    "contraindicated",
    "caution-condition",
    "long-term-use",
    "refills-not-allowed",
    "unknown-drug",
    "above-maintenance-range",
    "safety-not-established",
    "opioid-use-disorder-treatment",
    "unknown-co-medication",
)


# Rule kinds whose report is a not_evaluated entry (they exist to say what was not checked).
NOT_EVALUATED_KINDS = frozenset({"paediatric-weight", "dose-coverage"})


@dataclass(frozen=True, slots=True)
class Order:
    """A benzodiazepine order: what, how much, how often, why, and when.

    Typed input (the CLI, the JSON API) always gives dose, frequency and indication; an order
    read from an EHR may not, and the rules that need a missing fact are then reported as
    not evaluated.
    """

    drug: str
    dose_mg: Decimal | None
    frequency: Frequency | None
    indication: str | None
    start: date | None = None
    issued: date | None = None
    duration_days: int | None = None
    refills: int = 0
    days_supply: int | None = None
    prior_daily_mg: Decimal | None = None
    prior_start: date | None = None
    dose_note: str = ""  # why the dose in mg is not known, when it is not (a dose in mL ...)

    @property
    def daily_mg(self) -> Decimal | None:
        """The total daily dose, or None when the dose or its frequency is not known."""
        if self.dose_mg is None or self.frequency is None:
            return None
        return self.dose_mg * self.frequency.times_per_day


@dataclass(frozen=True, slots=True)
class Patient:
    """The facts about the patient that the rules use (age None: not on record)."""

    age_years: Decimal | None
    weight_kg: Decimal | None = None
    conditions: tuple[str, ...] = ()
    also_taking: tuple[CoMedication, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckReport:
    """The outcome of one check. ``to_dict`` is the public JSON shape."""

    drug: str
    findings: tuple[Finding, ...]
    not_evaluated: tuple[NotEvaluated, ...]
    daily_dose_mg: Decimal | None
    diazepam_equivalent_mg_per_day: Decimal | None
    equivalence_table: str
    knowledge_version: str
    protocol: ProtocolInfo | None = None

    def worst(self) -> Severity | None:
        """The highest severity among the findings, or None when there are none."""
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=SEVERITY_RANK.__getitem__)

    def to_dict(self) -> dict[str, Any]:
        dz = self.diazepam_equivalent_mg_per_day
        return {
            "drug": self.drug,
            "findings": [f.to_dict() for f in self.findings],
            "not_evaluated": [n.to_dict() for n in self.not_evaluated],
            "daily_dose_mg": float(self.daily_dose_mg) if self.daily_dose_mg is not None else None,
            "diazepam_equivalent_mg_per_day": float(dz) if dz is not None else None,
            "equivalence_table": self.equivalence_table,
            "knowledge_version": self.knowledge_version,
            **protocol_fields(self.protocol),
        }
