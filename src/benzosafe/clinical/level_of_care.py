"""Level of care for a benzodiazepine taper: outpatient, intensive outpatient or inpatient.

:func:`parse_intake` turns the intake mapping (the documented JSON shape) into a typed
:class:`Intake`, refusing unknown keys and wrong types by name. :func:`recommend_level_of_care`
applies the cited rules of ``knowledge/data/assessment/level_of_care.toml`` and returns a
:class:`Recommendation`: the level, every reason (a :class:`CareReason`, the finding of a rule
that sets a level) with its rule and sources, the rules not evaluated, the facts not assessed,
what would change the recommendation, and the diazepam-equivalent dose, dose band and
withdrawal risk it used. It never advises abrupt discontinuation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import Any

from benzosafe.clinical.equivalence import DIAZEPAM_REFERENCE_MG, diazepam_equivalent
from benzosafe.clinical.findings import (
    Finding,
    NotEvaluated,
    Severity,
    citations_to_dict,
    source_refs,
)
from benzosafe.clinical.instruments import instrument
from benzosafe.clinical.medications import ordered_drug
from benzosafe.errors import InvalidInput, UnknownDrug
from benzosafe.knowledge import Knowledge
from benzosafe.knowledge.assessment import (
    CARE_LEVELS,
    Alongside,
    BaseLevel,
    CareLevel,
    CareRule,
    LevelFact,
)
from benzosafe.knowledge.bundle import ProtocolInfo, protocol_fields
from benzosafe.knowledge.models import Citation
from benzosafe.units import MAX_AGE_YEARS, format_mg, parse_daily_dose

# The equivalence tables give the dose of each drug equal to 10 mg oral diazepam
# (Joint guideline Table 7); that reference dose is the definition of the tables.

SUBSTANCES = ("alcohol", "opioids", "other-sedatives", "stimulants", "cannabis", "other")
MAX_MONTHS = 1200  # a typo guard, not a clinical limit


@dataclass(frozen=True)
class Intake:
    """What is known about the patient; ``None`` means not assessed."""

    drug: str | None = None
    daily_dose: str | None = None
    duration_of_use_months: Decimal | None = None
    days_per_week: int | None = None
    withdrawal_seizure_history: bool | None = None
    withdrawal_delirium_history: bool | None = None
    other_substances: tuple[str, ...] | None = None
    suicidality: bool | None = None
    pregnant: bool | None = None
    frail: bool | None = None
    age: int | None = None
    support_at_home: bool | None = None
    failed_outpatient_tapers: int | None = None
    ciwa_b_total: int | None = None
    severe_or_complicated_withdrawal: bool | None = None


INTAKE_FIELDS = tuple(f.name for f in fields(Intake))
_BOOL_FIELDS = {
    "withdrawal_seizure_history",
    "withdrawal_delirium_history",
    "suicidality",
    "pregnant",
    "frail",
    "support_at_home",
    "severe_or_complicated_withdrawal",
}


def _int(field: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(field, f"{value!r} is not a whole number from {low} to {high}")
    return value


def parse_intake(raw: Mapping[str, Any], kb: Knowledge) -> Intake:
    """Validate the intake mapping; unknown keys and wrong types are InvalidInput by name."""
    if not isinstance(raw, Mapping):
        raise InvalidInput("intake", "expected an object with the documented keys", INTAKE_FIELDS)
    unknown = sorted(set(raw) - set(INTAKE_FIELDS))
    if unknown:
        raise InvalidInput(unknown[0], "unknown key", INTAKE_FIELDS)
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if value is None:
            continue
        if name in _BOOL_FIELDS:
            if not isinstance(value, bool):
                raise InvalidInput(name, f"{value!r} is not true or false", ["true", "false"])
            values[name] = value
        elif name in ("drug", "daily_dose"):
            if not isinstance(value, str) or not value.strip():
                raise InvalidInput(name, f"{value!r} is not a text value")
            values[name] = value.strip()
        elif name == "duration_of_use_months":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise InvalidInput(name, f"{value!r} is not a number of months")
            try:
                months = Decimal(str(value))
            except ArithmeticError as exc:
                raise InvalidInput(name, f"{value!r} is not a number of months") from exc
            if not months.is_finite() or not 0 <= months <= MAX_MONTHS:
                raise InvalidInput(name, f"{value!r} is not a number of months (0-{MAX_MONTHS})")
            values[name] = months
        elif name == "days_per_week":
            values[name] = _int(name, value, 0, 7)
        elif name == "age":
            values[name] = _int(name, value, 0, MAX_AGE_YEARS)
        elif name == "failed_outpatient_tapers":
            values[name] = _int(name, value, 0, 100)
        elif name == "ciwa_b_total":
            values[name] = _int(name, value, 0, instrument("ciwa-b", kb).max_total)
        elif name == "other_substances":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise InvalidInput(name, "expected a list of substances", SUBSTANCES)
            for item in value:
                if item not in SUBSTANCES:
                    raise InvalidInput(name, f"unknown substance {item!r}", SUBSTANCES)
            values[name] = tuple(value)
    return Intake(**values)


# A reason's severity follows the level it sets: the more intensive the setting, the more the
# reason matters. The public JSON of a recommendation shows the level, not the severity.
_SEVERITY: dict[CareLevel, Severity] = {
    "outpatient-taper": "info",
    "intensive-outpatient": "warning",
    "inpatient-medically-managed": "critical",
}


@dataclass(frozen=True, slots=True)
class CareReason(Finding):
    """A finding of a level-of-care rule: the rule that applied and the level it sets."""

    level: CareLevel


def _reason(kb: Knowledge, rule: BaseLevel, detail: str) -> CareReason:
    return CareReason(
        code=rule.code,
        severity=_SEVERITY[rule.level],
        summary=rule.summary,
        detail=detail,
        rule=rule.id,
        rule_version=rule.version,
        sources=source_refs(kb, rule.sources),
        level=rule.level,
    )


@dataclass(frozen=True)
class Recommendation:
    level: CareLevel
    reasons: tuple[CareReason, ...]
    not_assessed: tuple[str, ...]
    not_evaluated: tuple[NotEvaluated, ...]
    would_change: tuple[str, ...]
    diazepam_equivalent: str | None
    dose_band: str | None
    dose_band_basis: str | None
    withdrawal_risk: str | None
    taper_note: str
    taper_note_sources: tuple[Citation, ...]
    knowledge_version: str
    protocol: ProtocolInfo | None = None
    alongside: tuple[Alongside, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape (CLI ``--json`` and the web API)."""
        return {
            "level": self.level,
            "reasons": [
                {
                    "code": r.code,
                    "rule": r.rule,
                    "version": r.rule_version,
                    "level": r.level,
                    "summary": r.summary,
                    "detail": r.detail or None,
                    "sources": citations_to_dict(r.sources),
                }
                for r in self.reasons
            ],
            "not_assessed": list(self.not_assessed),
            "not_evaluated": [{"rule": n.rule, "reason": n.reason} for n in self.not_evaluated],
            "would_change": list(self.would_change),
            "diazepam_equivalent": self.diazepam_equivalent,
            "dose_band": self.dose_band,
            "dose_band_basis": self.dose_band_basis,
            "withdrawal_risk": self.withdrawal_risk,
            "taper_note": self.taper_note,
            "taper_note_sources": citations_to_dict(self.taper_note_sources),
            "alongside_taper": [
                {"id": a.id, "text": a.text, "sources": citations_to_dict(a.sources)}
                for a in self.alongside
            ],
            "knowledge_version": self.knowledge_version,
            **protocol_fields(self.protocol),
        }


def _range(mg: Decimal, low_mg: Decimal, high_mg: Decimal) -> str:
    """Diazepam mg equal to ``mg`` of a drug whose table value is ``low_mg``-``high_mg``."""
    high = format_mg(mg * DIAZEPAM_REFERENCE_MG / low_mg)
    if low_mg == high_mg:
        return high
    return f"{format_mg(mg * DIAZEPAM_REFERENCE_MG / high_mg)}-{high}"


@dataclass(frozen=True)
class _Dose:
    equivalents: str
    band: str | None
    basis: str | None
    problem: str | None


def _dose(intake: Intake, kb: Knowledge) -> _Dose | None:
    # Both are checked whenever given, even when the other is missing.
    mg = None if intake.daily_dose is None else parse_daily_dose(intake.daily_dose, "daily_dose")
    found = None if intake.drug is None else ordered_drug(kb, intake.drug, "drug")
    entry = found.entry if found else None
    if found is not None and entry is None:
        why = found.why_not()
        raise UnknownDrug(
            "drug",
            f"unknown benzodiazepine {intake.drug!r}" + (f": {why}" if why else ""),
            kb.benzodiazepines,
        )
    if entry is None or mg is None:
        return None
    used = entry.equivalence.used_mg
    de = diazepam_equivalent(entry, mg)
    equivalents = "; ".join(
        f"{_range(mg, t.low_mg, t.high_mg)}/day ({t.table}"
        + (", used" if used in (t.low_mg, t.high_mg) and t.low_mg == t.high_mg else "")
        + ")"
        for t in entry.equivalence.tables
    )
    bands = kb.assessment.level_of_care.dose_bands
    per_drug = next((b for b in bands.per_drug if b.drug == entry.id), None)
    if per_drug is not None:
        low, moderate, amount = per_drug.low_max_mg, per_drug.moderate_max_mg, mg
        basis = (
            f"Joint guideline Table 2 {entry.id} examples as printed "
            f"(low up to {format_mg(low)}, moderate up to {format_mg(moderate)} a day). "
            + bands.note
        )
    elif de is not None:
        low = bands.diazepam_equivalent.low_max_mg
        moderate = bands.diazepam_equivalent.moderate_max_mg
        amount = de
        basis = (
            f"Joint guideline Table 2 diazepam-equivalent bands (low up to {format_mg(low)}, "
            f"moderate up to {format_mg(moderate)} a day), converted with "
            f"{entry.equivalence.choice}"
        )
    else:
        return _Dose(equivalents, None, None, f"no diazepam equivalent is held for {entry.id}")
    band = "low" if amount <= low else "moderate" if amount <= moderate else "high"
    return _Dose(equivalents, band, basis, None)


def _withdrawal_risk(
    intake: Intake, dose: _Dose | None, kb: Knowledge
) -> tuple[str | None, bool | None, str | None]:
    """(risk text, whether clinically significant withdrawal is expected, why not evaluated)."""
    risk = kb.assessment.level_of_care.withdrawal_risk
    if intake.days_per_week is not None and intake.days_per_week <= risk.max_days_per_week_rare:
        return risk.rare, False, None
    months = intake.duration_of_use_months
    if months is None:
        return None, None, "duration_of_use_months not given"
    regular = risk.max_days_per_week_rare + 1  # regular use starts past the rare band
    assumed = f" Assumes use on {regular} or more days a week."
    if intake.days_per_week is not None:
        assumed = ""
    if months < risk.short_months:
        return risk.under_short + assumed, False, None
    if months >= risk.long_months:
        return risk.long + assumed, True, None
    if dose is None or dose.band is None:
        why = dose.problem if dose and dose.problem else "drug and daily_dose not given"
        return None, None, why
    if dose.band == "low":
        return risk.short_low + assumed, False, None
    return risk.short_higher + assumed, True, None


def _facts(intake: Intake, expected: bool | None, kb: Knowledge) -> dict[LevelFact, bool | None]:
    subs = intake.other_substances
    seizure, delirium = intake.withdrawal_seizure_history, intake.withdrawal_delirium_history
    history: bool | None = (
        True if seizure or delirium else None if seizure is None or delirium is None else False
    )
    pregnant, frail = intake.pregnant, intake.frail
    condition: bool | None = (
        True if pregnant or frail else None if pregnant is None or frail is None else False
    )
    older = kb.populations.older_adult.min_age_years
    return {
        "suicidality": intake.suicidality,
        "severe_or_complicated_withdrawal": intake.severe_or_complicated_withdrawal,
        "withdrawal_complication_history": history,
        "alcohol_or_sedative_use": None
        if subs is None
        else bool({"alcohol", "other-sedatives"} & set(subs)),
        "opioid_use": None if subs is None else "opioids" in subs,
        "complicating_condition": condition,
        "failed_outpatient_tapers": None
        if intake.failed_outpatient_tapers is None
        else intake.failed_outpatient_tapers > 0,
        "no_support_at_home": None
        if intake.support_at_home is None
        else not intake.support_at_home,
        "withdrawal_expected": expected,
        "older_adult": None if intake.age is None else Decimal(intake.age) >= older,
    }


def _fires(rule: CareRule, facts: dict[LevelFact, bool | None], intake: Intake) -> bool | None:
    if rule.fact == "failed_outpatient_tapers" and intake.failed_outpatient_tapers is not None:
        return intake.failed_outpatient_tapers >= rule.min_count
    return facts[rule.fact]


def recommend_level_of_care(intake: Intake | Mapping[str, Any], kb: Knowledge) -> Recommendation:
    """Recommend a setting for the taper, with every reason, its rule and its sources."""
    if not isinstance(intake, Intake):
        intake = parse_intake(intake, kb)
    loc = kb.assessment.level_of_care
    dose = _dose(intake, kb)
    risk_text, expected, risk_problem = _withdrawal_risk(intake, dose, kb)
    facts = _facts(intake, expected, kb)

    base = loc.base
    reasons = [_reason(kb, base, "")]
    not_evaluated: list[NotEvaluated] = []
    would_change: list[str] = []
    fired: list[CareRule] = []
    for rule in loc.rule:
        result = _fires(rule, facts, intake)
        if result:
            fired.append(rule)
            detail = rule.detail
            if rule.fact == "withdrawal_expected" and risk_text:
                detail = (risk_text + " " + detail).strip()
            reasons.append(_reason(kb, rule, detail))
        elif result is None and rule.fact == "withdrawal_expected" and risk_problem:
            not_evaluated.append(NotEvaluated(rule.code, rule.id, risk_problem))

    level: CareLevel = max([base.level, *(r.level for r in fired)], key=CARE_LEVELS.index)
    rank = CARE_LEVELS.index(level)
    for rule in loc.rule:
        if rule not in fired and CARE_LEVELS.index(rule.level) > rank:
            state = "not assessed" if _fires(rule, facts, intake) is None else "not present"
            would_change.append(f"If {rule.if_text} ({state} now): {rule.level} ({rule.id}).")
    deciding = [r.id for r in fired if r.level == level and level != base.level]
    if deciding:
        would_change.append(
            f"The level is set by {', '.join(deciding)}; without "
            + ("it" if len(deciding) == 1 else "all of them")
            + " the recommendation would be lower."
        )
    if intake.ciwa_b_total is not None:
        # What goes unused is the instrument's total, so the instrument names the entry.
        not_evaluated.append(
            NotEvaluated(
                "ciwa-b",
                "CIWA-B",
                f"CIWA-B total {intake.ciwa_b_total} recorded but not used: "
                + instrument("ciwa-b", kb).draft_reason
                + " Set severe_or_complicated_withdrawal from the clinical assessment.",
            )
        )
    not_assessed = tuple(
        name for name in INTAKE_FIELDS if getattr(intake, name) is None and name != "ciwa_b_total"
    )
    de = dose.equivalents if dose else None
    return Recommendation(
        level=level,
        reasons=tuple(reasons),
        not_assessed=not_assessed,
        not_evaluated=tuple(not_evaluated),
        would_change=tuple(would_change),
        diazepam_equivalent=de or None,
        dose_band=dose.band if dose else None,
        dose_band_basis=dose.basis if dose else None,
        withdrawal_risk=risk_text,
        taper_note=loc.never_abrupt,
        taper_note_sources=tuple(loc.never_abrupt_sources),
        knowledge_version=kb.assessment.version,
        protocol=kb.protocol,
        alongside=tuple(loc.alongside),
    )
