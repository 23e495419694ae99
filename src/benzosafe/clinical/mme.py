"""Morphine milligram equivalents per day (CDC 2022 factors) of a resolved medication.

:func:`mme_per_day` turns a :class:`~benzosafe.clinical.resolve.Resolved` and its dose (the
one written after the name, or one an adapter read from a structured order) into MME per day
and the opioid's own amount per day ("codeine 60 mg/day"), or says why it cannot: no factor
(buprenorphine), no frequency, a dose in mL of a product without a known concentration, a
dose in mg of a combination of opioids. The factors come from the product index, never
from code.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from benzosafe.clinical.resolve import Resolved, per_ml
from benzosafe.clinical.written_dose import Dose
from benzosafe.knowledge.products import Ingredient


@dataclass(frozen=True, slots=True)
class MmeEstimate:
    """Morphine milligram equivalents per day (CDC 2022), or None with the reason.

    ``opioid_per_day`` is the opioid's own amount behind the figure ("codeine 60 mg/day",
    "fentanyl 75 mcg/h"), empty when it is not known."""

    mme_per_day: Decimal | None
    reason: str = ""
    opioid_per_day: str = ""


def _factored(resolved: Resolved) -> Ingredient | None:
    """The one opioid of the drug that has a factor (None for none or several)."""
    found = [i for i in resolved.opioids if i.mme_factor is not None]
    return found[0] if len(found) == 1 else None


def _amount_text(opioid: Ingredient, amount: Decimal, per_day: bool) -> str:
    unit = "mcg/h" if opioid.mme_basis == "mcg/h" else "mg/day" if per_day else "mg"
    return f"{opioid.id} {format(amount.normalize(), 'f')} {unit}"


def mme_per_day(resolved: Resolved, dose: Dose | None = None) -> MmeEstimate:
    """MME per day from the MME per unit and the dose (units or mL, and frequency).

    ``dose`` defaults to the dose written after the name. A strength written without an
    amount is one unit ("oxycodone 10 mg qid" is one 10 mg tablet four times a day); "5 mL
    q4h" needs the product's concentration; a patch's MME is per day worn, whatever the
    frequency; an amount in mg (a structured order) is of the opioid itself.
    """
    dose = resolved.dose if dose is None else dose
    if not resolved.opioids:
        return MmeEstimate(None, "not an opioid")
    opioid = _factored(resolved)
    if dose.amount_unit == "mg":
        return _of_mg(resolved, opioid, dose)
    liquids = any(p.mme_per_ml for p in resolved.products)
    if dose.amount_unit == "mL" and resolved.products and not liquids:
        return MmeEstimate(None, "a dose in mL needs a liquid with a known concentration, "
                           "and no liquid product with one fits the name")  # fmt: skip
    if resolved.mme_per_unit is None:
        return MmeEstimate(None, resolved.mme_note or "no MME per unit")
    product = resolved.products[0] if resolved.products else None
    per_unit = (resolved.mme_per_unit / opioid.mme_factor) if opioid and opioid.mme_factor else None
    if product is not None and product.mme_basis == "mcg/h":
        amount = dose.amount or 1
        worn = _amount_text(opioid, per_unit * amount, True) if opioid and per_unit else ""
        return MmeEstimate(resolved.mme_per_unit * amount, "", worn)
    liquid = per_ml(product) if product is not None else dose.strength_unit == "mg/mL"
    if dose.amount_unit == "mL" and not liquid:
        return MmeEstimate(None, "a dose in mL needs a liquid with a known concentration")
    if dose.amount_unit == "unit" and liquid:
        return MmeEstimate(None, "a liquid's dose must be written in mL")
    if liquid and dose.amount is None:
        return MmeEstimate(None, "a liquid's dose must be written in mL, e.g. '5 mL q4h'")
    if dose.amount is None and not dose.strengths:
        return MmeEstimate(None, "no dose written")
    if dose.frequency is None:
        return MmeEstimate(None, "no frequency written (e.g. q6h, bid)" if not dose.frequency_text
                           else f"frequency {dose.frequency_text!r} not understood")  # fmt: skip
    units = (dose.amount if dose.amount is not None else Decimal(1)) * dose.frequency.times_per_day
    daily = _amount_text(opioid, per_unit * units, True) if opioid and per_unit else ""
    return MmeEstimate(resolved.mme_per_unit * units, "", daily)


def _of_mg(resolved: Resolved, opioid: Ingredient | None, dose: Dose) -> MmeEstimate:
    """An amount in mg of the opioid (a structured order's dose), times its factor."""
    if opioid is None or len(resolved.opioids) != 1 or opioid.mme_factor is None:
        note = next((i.mme_note for i in resolved.opioids if i.mme_note), "")
        return MmeEstimate(None, note or "a dose in mg needs a drug of one opioid with a factor")
    if opioid.mme_basis != "mg":
        return MmeEstimate(None, f"{opioid.id}'s factor is per {opioid.mme_basis}, not per mg")
    if dose.amount is None or dose.frequency is None:
        return MmeEstimate(None, "no frequency given")
    per_day = dose.amount * dose.frequency.times_per_day
    return MmeEstimate(per_day * opioid.mme_factor, "", _amount_text(opioid, per_day, True))
