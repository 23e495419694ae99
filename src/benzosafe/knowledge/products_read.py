"""Reading the CDC files for the product index: workbook rows, value-set displays, dose forms.

Pure helpers of :mod:`benzosafe.knowledge.products_build`: they turn one workbook row or one
RxNorm display ("Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet [Percocet]")
into typed parts, normalise units to the index's (mg, mg/mL, mcg/h, mg/actuation) and group a
dose form ("Tablet, Extended Release", "Transdermal System") into what one unit of it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from benzosafe.knowledge.products import FormGroup, Unit

# A workbook or RxNorm unit, and (index unit, multiplier) for it.
UNITS: dict[str, tuple[Unit, Decimal]] = {
    "MG": ("mg", Decimal(1)),
    "MCG": ("mg", Decimal("0.001")),
    "MG/ML": ("mg/mL", Decimal(1)),
    "MCG/HR": ("mcg/h", Decimal(1)),
    "MG/HR": ("mcg/h", Decimal(1000)),
    "MG/ACTUAT": ("mg/actuation", Decimal(1)),
    "MCG/SPRAY": ("mg/actuation", Decimal("0.001")),
}

# Order matters: "Injectable Solution" is an injection, "Tablet for Suspension" a tablet.
_FORM_GROUPS: tuple[tuple[FormGroup, tuple[str, ...]], ...] = (
    ("patch", ("transdermal", "patch")),
    ("injection", ("inject", "syringe", "cartridge", "subcutaneous", "injection")),
    ("implant", ("implant",)),
    ("suppository", ("suppository",)),
    ("gel", ("gel", "jelly")),
    ("spray", ("spray",)),
    ("lozenge", ("lozenge", "troche")),
    ("film", ("film",)),
    ("tablet", ("tablet",)),
    ("capsule", ("capsule",)),
    ("liquid", ("solution", "liquid", "suspension", "syrup", "elixir")),
)


def decimal_text(value: Decimal) -> Decimal:
    """A decimal without trailing zeros or exponent: 0.150 -> 0.15, 1E+1 -> 10."""
    return Decimal(format(value.normalize(), "f"))


def number(value: object) -> Decimal | None:
    """A workbook number (int or float) as the decimal it was typed as."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return decimal_text(Decimal(str(value)))
    raise ValueError(f"not a number: {value!r}")


def strength(value: Decimal, unit: str) -> tuple[Decimal, Unit] | None:
    """A strength in the index's unit, or None for a unit the index does not use."""
    found = UNITS.get(unit.upper())
    if found is None:
        return None
    return decimal_text(value * found[1]), found[0]


def form_group(form: str) -> FormGroup:
    lowered = form.lower()
    for group, words in _FORM_GROUPS:
        if any(w in lowered for w in words):
            return group
    return "other"


def extended_release(form: str) -> bool:
    return "extended release" in form.lower()


@dataclass(frozen=True, slots=True)
class Component:
    """One ingredient of an RxNorm name, as written."""

    name: str
    value: Decimal
    unit: str


@dataclass(frozen=True, slots=True)
class Display:
    """An RxNorm clinical or branded drug, component or pack name, taken apart."""

    components: tuple[Component, ...]
    form: str
    brand: str | None
    pack: bool

    @property
    def generic(self) -> str:
        parts = [f"{c.name} {c.value} {c.unit}" for c in self.components]
        return " / ".join(parts) + (f" {self.form}" if self.form else "")


_PACK = re.compile(r"\{\d+ (?:\([\d.]+ ML\) )?\((?P<inner>.+)\) \} Pack(?: \[(?P<brand>[^\]]+)\])?")
_BRANDED = re.compile(r"(?P<core>.+?) \[(?P<brand>[^\]]+)\]")
# Qualifiers before the first ingredient: release ("12 HR"), abuse deterrence, a volume
# ("2 ML" of an injection) or a count of actuations.
_QUALIFIERS = re.compile(
    r"^(?:(?:\d+(?:\.\d+)? (?:HR|ML|ACTUAT) )|Abuse-Deterrent |Matrix Delivery )+"
)
_COMPONENT = re.compile(
    r"(?P<name>[A-Za-z][A-Za-z ,.'()-]*?) (?P<num>\d*\.?\d+) (?P<unit>[A-Z]+(?:/[A-Z]+)?)"
    r"(?: (?P<rest>.+))?"
)


def parse_display(display: str) -> Display | None:
    """Take an RxNorm name apart, or None when it is not of a shape the index reads."""
    text = display.strip()
    pack = _PACK.fullmatch(text)
    brand: str | None = None
    if pack:
        text = pack["inner"]
    branded = _BRANDED.fullmatch(text)
    if branded:
        text, brand = branded["core"], branded["brand"]
    text = _QUALIFIERS.sub("", text)
    parts = text.split(" / ")
    components: list[Component] = []
    form = ""
    for i, part in enumerate(parts):
        match = _COMPONENT.fullmatch(part)
        if match is None or (match["rest"] and i != len(parts) - 1):
            return None
        form = match["rest"] or ""
        components.append(Component(match["name"], Decimal(match["num"]), match["unit"]))
    return Display(tuple(components), form, brand, pack is not None)
