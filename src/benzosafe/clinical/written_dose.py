"""The dose written after a medication's name: "5/325 mg q6h", "5 mL q4h", "75 mcg/h".

:func:`parse_dose` reads what follows a name in free text into a :class:`Dose` (strengths
with their unit, an amount of units or millilitres, a frequency, form words such as "ER" or
"tablet"); nothing is guessed, and what cannot be read is kept as written. Part of the one
resolver (:mod:`benzosafe.clinical.resolve`), which narrows products by these strengths and
form words; :mod:`benzosafe.clinical.mme` turns a dose into morphine milligram equivalents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from benzosafe.errors import UnitError
from benzosafe.units import Frequency, parse_frequency


@dataclass(frozen=True, slots=True)
class Dose:
    """The dose written after the name: strengths, an amount, a frequency (each optional)."""

    strengths: tuple[Decimal, ...] = ()  # "5/325" -> (5, 325), in ``strength_unit``
    strength_unit: str | None = None  # "mg", "mg/mL", "mcg/h", "mg/actuation" or None
    amount: Decimal | None = None  # how many units per dose, millilitres, or mg of the opioid
    # "mg" is never read from text (a strength is): a FHIR doseQuantity in mg gives it.
    amount_unit: Literal["unit", "mL", "mg"] | None = None
    frequency: Frequency | None = None
    frequency_text: str = ""  # as written, also when it could not be read
    as_needed: bool = False
    form_words: tuple[str, ...] = ()  # "tablet", "ER" ... written after the strength


# Words of a dose form or release written in a name ("oxycodone ER", "Xanax XR tab"): not
# part of the name; they narrow the products when some fit them.
FORM_WORDS: dict[str, tuple[str | None, bool | None]] = {
    "er": (None, True), "xr": (None, True), "sr": (None, True), "cr": (None, True),
    "xl": (None, True), "la": (None, True), "ir": (None, False),
    "tab": ("tablet", None), "tabs": ("tablet", None), "tablet": ("tablet", None),
    "tablets": ("tablet", None), "cap": ("capsule", None), "caps": ("capsule", None),
    "capsule": ("capsule", None), "capsules": ("capsule", None), "patch": ("patch", None),
    "transdermal": ("patch", None), "film": ("film", None), "odt": ("tablet", None),
    "solution": ("liquid", None), "soln": ("liquid", None), "liquid": ("liquid", None),
    "syrup": ("liquid", None), "elixir": ("liquid", None), "suspension": ("liquid", None),
    "concentrate": ("liquid", None),
    "oral": (None, None), "sublingual": (None, None), "buccal": (None, None),
    "injection": ("injection", None), "inj": ("injection", None),
}  # fmt: skip

_NUMBER = r"\d*\.?\d+"
_STRENGTH = re.compile(
    rf"^(?P<nums>{_NUMBER}(?:\s*[/-]\s*{_NUMBER})*)\s*"
    r"(?P<unit>(?:mg|mcg|µg|ug)\s*/\s*(?:\d*\.?\d+\s*)?ml|(?:mg|mcg|µg|ug)\s*/\s*(?:hr?|hour)"
    r"|(?:mg|mcg|µg|ug)\s*/\s*(?:spray|actuation|actuat|puff)|mg|mcg|µg|ug)?(?![a-z])"
)
_AMOUNT = re.compile(
    rf"^(?P<n>{_NUMBER})\s*(?P<unit>ml|tabs?|tablets?|caps?|capsules?|patch(?:es)?|films?"
    r"|sprays?|lozenges?|suppositor(?:y|ies)|units?)\b"
)
_ROUTE = re.compile(r"\b(?:po|p\.o\.|by mouth|orally|sl|sublingually|td|topically)\b")
_AS_NEEDED = re.compile(r"\b(?:prn|p\.r\.n\.|as needed)\b")
_MASS = {"mg": Decimal(1), "mcg": Decimal("0.001"), "µg": Decimal("0.001"), "ug": Decimal("0.001")}


def _strength_unit(unit: str) -> tuple[str, Decimal] | None:
    """A written unit as the index's unit and the factor into it."""
    unit = unit.replace(" ", "")
    mass, _, per = unit.partition("/")
    factor = _MASS[mass]
    if not per:
        return "mg", factor
    if per.endswith("ml"):
        volume = Decimal(per[:-2]) if per[:-2] else Decimal(1)
        return "mg/mL", factor / volume
    if per[0] in "ht":
        return "mcg/h", factor * 1000  # per hour: patches are in mcg/h
    return "mg/actuation", factor


@lru_cache(maxsize=1 << 14)
def parse_dose(text: str) -> Dose:
    """The dose part of a medication: "5/325 mg q6h", "5 mL q4h", "75 mcg/h", "8/2 mg daily".

    Remembered: a few hundred dose spellings make up most orders."""
    rest = text.strip().lower()
    strengths: tuple[Decimal, ...] = ()
    unit: str | None = None
    amount: Decimal | None = None
    amount_unit: Literal["unit", "mL"] | None = None
    if not _AMOUNT.match(rest):
        found = _STRENGTH.match(rest)
        if found:
            numbers = [Decimal(n) for n in re.split(r"\s*[/-]\s*", found["nums"])]
            scale = Decimal(1)
            if found["unit"]:
                unit, scale = _strength_unit(found["unit"]) or (None, Decimal(1))
            strengths = tuple(n * scale for n in numbers)
            rest = rest[found.end() :].strip()
    counted = _AMOUNT.match(rest)
    if counted:
        amount = Decimal(counted["n"])
        amount_unit = "mL" if counted["unit"] == "ml" else "unit"
        rest = rest[counted.end() :].strip()
    as_needed = bool(_AS_NEEDED.search(rest))
    words = _AS_NEEDED.sub(" ", _ROUTE.sub(" ", rest)).split()
    form_words = tuple(w for w in words if w in FORM_WORDS)
    rest = " ".join(w for w in words if w not in FORM_WORDS)
    frequency = None
    if rest:
        try:
            frequency = parse_frequency(rest)
        except UnitError:
            frequency = None
    return Dose(strengths, unit, amount, amount_unit, frequency, rest, as_needed, form_words)
