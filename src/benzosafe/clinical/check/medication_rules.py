"""The medication rules of the check: an opioid or another CNS depressant with the
benzodiazepine, a second benzodiazepine, opioid use disorder treatment, a current medication
that could not be identified, and an ordered drug that is not a known benzodiazepine.

Current medications arrive resolved (:class:`~benzosafe.clinical.medications.CoMedication`):
their classes count every ingredient of a combination, and their MME per day comes from the
opioid's strength (CDC 2022 factors in the product index), or is not evaluated with the reason.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from benzosafe.clinical.check.context import Context, fire, handler, skip
from benzosafe.clinical.medications import BENZODIAZEPINE, OPIOID, CoMedication

if TYPE_CHECKING:
    from benzosafe.knowledge.models import Rule


def _members(ctx: Context, classes: list[str]) -> list[CoMedication]:
    return [m for m in ctx.patient.also_taking if any(c in classes for c in m.classes)]


def _written(med: CoMedication) -> str:
    """The medication as written, with what it is when that is not plain from the text."""
    name = med.name
    return med.text if name.lower() in med.text.lower() else f"{med.text} ({name})"


@handler("concurrent-class")
def _concurrent_class(rule: Rule, ctx: Context) -> None:
    classes: list[str] = list(rule.params.get("classes", []))
    meds = _members(ctx, classes)
    conditions = [c for c in ctx.patient.conditions if c in rule.params.get("conditions", [])]
    if not meds and not conditions:
        return
    names = list(dict.fromkeys(m.name for m in meds))
    names += [ctx.kb.conditions[c].name.lower() for c in conditions]
    listed = ", ".join(names)
    if OPIOID not in classes:
        current = ", ".join([_written(m) for m in meds] + names[len(meds) :])
        fire(ctx, rule, f"Another CNS depressant with the benzodiazepine: {listed}",
             f"Current: {current}.")  # fmt: skip
        return
    parts, unknown, total = [], [], Decimal(0)
    for med in meds:
        mme = med.mme
        if mme.mme_per_day is None:
            unknown.append(med)
            continue
        total += mme.mme_per_day
        amount = f"{mme.opioid_per_day} = " if mme.opioid_per_day else ""
        parts.append(f"{_written(med)}: {amount}{mme.mme_per_day.normalize():f} MME/day")
    mme_text = f"{total.normalize():f} MME/day" if parts else "MME/day unknown"
    if parts and unknown:
        mme_text = f"at least {mme_text}"
    detail = "Opioids: " + ("; ".join(parts) if parts else listed) + "."
    for med in unknown:
        detail += f" No MME for {_written(med)}: {med.mme.reason}."
        skip(ctx, rule, f"MME per day of {med.text!r} not computed: {med.mme.reason}")
    fire(
        ctx,
        rule,
        f"Opioid with a benzodiazepine ({listed}; {mme_text}): risk of fatal respiratory "
        "depression",
        detail,
    )


@handler("oud-treatment")
def _opioid_use_disorder_treatment(rule: Rule, ctx: Context) -> None:
    """Buprenorphine or methadone with a benzodiazepine: keep it, offer naloxone [J1 p10]."""
    meds = [m for m in ctx.patient.also_taking if m.opioid_use_disorder_treatment]
    if not meds:
        return
    names = ", ".join(dict.fromkeys(m.name for m in meds))
    fire(
        ctx,
        rule,
        f"{names}: do not stop or reduce it because of the benzodiazepine; offer naloxone "
        "and coordinate care",
        f"Current opioid use disorder treatment: {', '.join(_written(m) for m in meds)}.",
    )


@handler("duplicate-class")
def _duplicate(rule: Rule, ctx: Context) -> None:
    meds = _members(ctx, [BENZODIAZEPINE])
    if meds:
        names = ", ".join(m.text for m in meds)
        fire(ctx, rule, f"Another benzodiazepine is current: {names}", f"Also taking: {names}.")


def _why_unknown(med: CoMedication) -> str:
    from benzosafe.clinical.resolve import Ambiguous, Unresolved  # only for such a name

    res = med.resolution
    if isinstance(res, Ambiguous):
        return f"{med.text!r} fits several drugs: " + "; ".join(med.candidates()) + "."
    if isinstance(res, Unresolved):
        named = [c.ingredient_id + f" ({c.class_id})" for c in med.ingredients]
        also = f" It names {', '.join(named)}, counted as such." if named else ""
        return f"{med.text!r}: {res.reason}.{also}"
    return ""


@handler("unknown-co-medication")
def _unknown_co_medication(rule: Rule, ctx: Context) -> None:
    """Every current medication the resolver could not identify as one drug, in one
    finding: the check is never clean because a name was not understood."""
    unknown = [m for m in ctx.patient.also_taking if not m.identified]
    if not unknown:
        return
    tail = "check {} for opioids and CNS depressants by hand"
    if len(unknown) == 1:
        med = unknown[0]
        cands = med.candidates()  # empty unless the name fits several drugs
        forms = (
            [f"{med.text} fits {len(cands)} drugs ({', '.join(cands)}): " + tail.format("it"),
             f"{med.text} fits {len(cands)} drugs: " + tail.format("it")]
            if cands
            else [f"Could not identify {med.text}: " + tail.format("it")]
        )  # fmt: skip
    else:
        texts = ", ".join(m.text for m in unknown)
        forms = [f"Could not identify {len(unknown)} medications ({texts}): " + tail.format("them")]
    forms.append(f"Could not identify {len(unknown)} medication(s): " + tail.format("them"))
    summary = next(f for f in forms if len(f) < 140)
    fire(ctx, rule, summary, " ".join(_why_unknown(m) for m in unknown))


@handler("unknown-drug")
def _unknown_drug(rule: Rule, ctx: Context) -> None:
    if ctx.drug is None:
        why = ctx.ordered.why_not()
        fire(
            ctx,
            rule,
            f"{ctx.order.drug!r} is not in the knowledge base: nothing was checked",
            f"{ctx.order.drug!r} is not a benzodiazepine known to benzosafe "
            f"({', '.join(sorted(ctx.kb.benzodiazepines))})" + (f": {why}." if why else "."),
        )
