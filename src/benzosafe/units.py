"""Explicit quantities: parsing and formatting of doses, weights, volumes and frequencies.

A dose is always written with its unit ("0.5 mg", "500 mcg"); a bare number is an
error, never a guess. Amounts are held as :class:`decimal.Decimal` milligrams so
that 0.125 mg steps add up exactly and mg and mcg can never be confused.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from benzosafe.errors import UnitError

_NUMBER = r"(?P<num>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
_MASS_UNITS: dict[str, Decimal] = {
    "mg": Decimal(1),
    "milligram": Decimal(1),
    "milligrams": Decimal(1),
    "mcg": Decimal("0.001"),
    "µg": Decimal("0.001"),
    "ug": Decimal("0.001"),
    "microgram": Decimal("0.001"),
    "micrograms": Decimal("0.001"),
    "g": Decimal(1000),
}
_WEIGHT_UNITS: dict[str, Decimal] = {
    "kg": Decimal(1),
    "lb": Decimal("0.45359237"),
    "lbs": Decimal("0.45359237"),
    "g": Decimal("0.001"),
}
_VOLUME_UNITS: dict[str, Decimal] = {"ml": Decimal(1), "l": Decimal(1000)}
_PER_DAY = ("/day", "/d", " per day", " a day", "/24h", " daily")

# Limits that catch typos (a gram typed for a milligram), not clinical limits:
# clinical limits live in the knowledge data with their sources.
ABSURD_DOSE_MG = Decimal(10000)
ABSURD_WEIGHT_KG = Decimal(700)
MAX_AGE_YEARS = 125  # older than any recorded human: a typo guard for ages


def _split(text: str, field: str) -> tuple[Decimal, str]:
    raw = text.strip()
    match = re.fullmatch(_NUMBER + r"\s*(?P<unit>[^\d\s].*)?", raw)
    if match is None:
        raise UnitError(field, f"{text!r} is not a number followed by a unit")
    unit = (match.group("unit") or "").strip()
    if not unit:
        raise UnitError(field, f"{text!r} has no unit; write it with one, e.g. '0.5 mg'")
    try:
        value = Decimal(match.group("num"))
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise UnitError(field, f"{text!r} is not a number") from exc
    return value, unit


def _scaled(text: str, field: str, units: dict[str, Decimal], allowed: list[str]) -> Decimal:
    """The quantity in the canonical unit of ``units``; more than zero."""
    value, unit = _split(text, field)
    factor = units.get(unit.lower())
    if factor is None:
        raise UnitError(field, f"unknown unit {unit!r} in {text!r}", allowed)
    scaled = value * factor
    if scaled <= 0:
        raise UnitError(field, f"{text!r} must be more than zero")
    return scaled


def parse_mass(text: str, field: str = "dose") -> Decimal:
    """Parse "0.5 mg" or "500 mcg" into milligrams."""
    mg = _scaled(text, field, _MASS_UNITS, sorted(_MASS_UNITS))
    if mg > ABSURD_DOSE_MG:
        raise UnitError(field, f"{text!r} is not a plausible dose")
    return mg


def parse_daily_dose(text: str, field: str = "daily_dose") -> Decimal:
    """Parse "2 mg/day" (or "2 mg per day", "2 mg daily") into milligrams per day."""
    lowered = text.strip().lower()
    for suffix in _PER_DAY:
        if lowered.endswith(suffix):
            return parse_mass(text.strip()[: -len(suffix)], field)
    raise UnitError(field, f"{text!r} is not a daily dose; write it as e.g. '2 mg/day'")


def parse_weight(text: str, field: str = "weight") -> Decimal:
    """Parse "60 kg" or "132 lb" into kilograms."""
    kg = _scaled(text, field, _WEIGHT_UNITS, sorted(_WEIGHT_UNITS))
    if kg > ABSURD_WEIGHT_KG:
        raise UnitError(field, f"{text!r} is not a plausible body weight")
    return kg


def parse_volume(text: str, field: str = "volume") -> Decimal:
    """Parse "0.1 mL" into millilitres."""
    return _scaled(text, field, _VOLUME_UNITS, ["mL", "L"])


def parse_concentration(text: str, field: str = "concentration") -> Decimal:
    """Parse "0.1 mg/mL" (or "100 mcg/mL") into milligrams per millilitre."""
    if "/" not in text:
        raise UnitError(field, f"{text!r} is not a concentration; write it as e.g. '0.1 mg/mL'")
    mass_text, _, per = text.rpartition("/")
    if per.strip().lower() != "ml":
        raise UnitError(field, f"{text!r} must be per mL", ["mg/mL", "mcg/mL"])
    return parse_mass(mass_text, field)


def format_mg(mg: Decimal) -> str:
    """Format milligrams without trailing zeros: 0.125 mg, 1 mg, 20 mg."""
    quantized = mg.quantize(Decimal("0.0001")).normalize()
    text = format(quantized, "f")
    return f"{text} mg"


@dataclass(frozen=True, slots=True)
class Frequency:
    """How often a dose is taken: a code and the administrations per day."""

    code: str
    times_per_day: int
    label: str


FREQUENCIES: dict[str, Frequency] = {
    f.code: f
    for f in (
        Frequency("qd", 1, "once a day"),
        Frequency("qhs", 1, "once a day at bedtime"),
        Frequency("bid", 2, "twice a day"),
        Frequency("tid", 3, "3 times a day"),
        Frequency("qid", 4, "4 times a day"),
        Frequency("q24h", 1, "every 24 hours"),
        Frequency("q12h", 2, "every 12 hours"),
        Frequency("q8h", 3, "every 8 hours"),
        Frequency("q6h", 4, "every 6 hours"),
        Frequency("q4h", 6, "every 4 hours"),
    )
}
_FREQUENCY_WORDS = {
    "once a day": "qd",
    "once daily": "qd",
    "daily": "qd",
    "at bedtime": "qhs",
    "twice a day": "bid",
    "twice daily": "bid",
    "2 times a day": "bid",
    "3 times a day": "tid",
    "three times a day": "tid",
    "4 times a day": "qid",
    "four times a day": "qid",
}


def parse_frequency(text: str, field: str = "frequency") -> Frequency:
    """Parse a frequency code ("bid") or its words ("3 times a day")."""
    key = " ".join(text.strip().lower().split())
    key = _FREQUENCY_WORDS.get(key, key)
    found = FREQUENCIES.get(key)
    if found is None:
        allowed = [*FREQUENCIES, *_FREQUENCY_WORDS]
        raise UnitError(field, f"unknown frequency {text!r}", allowed)
    return found
