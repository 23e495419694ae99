"""Resolving what people write for a medication to the products and ingredients it means.

One resolver for every face: free text as prescribers, pharmacies and patients write it
("oxycodone/acetaminophen 5/325 mg q6h", "Norco 10/325", "Tylenol #3", "Suboxone 8/2 mg
daily", "promethazine with codeine 5 mL q4h"), a brand or generic name, an NDC in any
spelling or an RxNorm code. :func:`resolve` is pure: it is given the product index
(:class:`~benzosafe.knowledge.products.ProductIndex`) as a value and returns a
:class:`Resolved` (one drug: its ingredients, classes, the products the text fits, the dose
written), an :class:`Ambiguous` (several drugs, each a candidate) or an :class:`Unresolved`
(with the reason, and any ingredient it did recognise). Only a malformed code is an error
(:class:`~benzosafe.errors.InvalidInput` naming the field); a name that is not found is a
result, never an exception. :func:`mme_per_day` turns a resolution and its dose into CDC
2022 morphine milligram equivalents, or says why it cannot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from benzosafe.errors import InvalidInput, UnitError
from benzosafe.knowledge.products import Alias, Product, ProductIndex
from benzosafe.knowledge.products_read import Display, parse_display, strength
from benzosafe.knowledge.products_spelling import (
    name_key,
    ndc11,
    number_signs,
    split_ingredients,
)
from benzosafe.units import Frequency, parse_frequency

NDC_SYSTEM = "http://hl7.org/fhir/sid/ndc"
RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"
OPIOIDS = "opioids"  # the class id of opioids in the knowledge base and the index

Matched = Literal["ndc", "rxnorm", "name", "ingredients"]


@dataclass(frozen=True, slots=True)
class Dose:
    """The dose written after the name: strengths, an amount, a frequency (each optional)."""

    strengths: tuple[Decimal, ...] = ()  # "5/325" -> (5, 325), in ``strength_unit``
    strength_unit: str | None = None  # "mg", "mg/mL", "mcg/h", "mg/actuation" or None
    amount: Decimal | None = None  # how many units per dose, or millilitres
    amount_unit: Literal["unit", "mL"] | None = None
    frequency: Frequency | None = None
    frequency_text: str = ""  # as written, also when it could not be read
    as_needed: bool = False
    form_words: tuple[str, ...] = ()  # "tablet", "ER" ... written after the strength


@dataclass(frozen=True, slots=True)
class Resolved:
    """One drug: its ingredients and classes, and every product the text fits (none when only
    the ingredients are known, e.g. "pregabalin" or a strength no product has)."""

    text: str
    matched: Matched
    ingredients: tuple[str, ...]
    classes: tuple[str, ...]
    products: tuple[Product, ...]
    dose: Dose
    opioid_use_disorder_treatment: bool
    mme_per_unit: Decimal | None  # per tablet, per mL, or per day for a patch
    mme_note: str  # why there is no MME per unit; empty when there is one
    alias: Alias | None = None  # the curated spelling used, with its sources
    note: str = ""  # e.g. "no product of oxycodone 7 mg in the index"

    @property
    def product(self) -> Product | None:
        """The product, when the text names exactly one."""
        return self.products[0] if len(self.products) == 1 else None


@dataclass(frozen=True, slots=True)
class Candidate:
    """One of the drugs an ambiguous text may mean."""

    ingredients: tuple[str, ...]
    classes: tuple[str, ...]
    products: tuple[Product, ...]


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """A text that fits several drugs: each candidate with its products."""

    text: str
    candidates: tuple[Candidate, ...]

    @property
    def classes(self) -> tuple[str, ...]:
        """The classes every candidate has (an opioid whichever was meant)."""
        common = set(self.candidates[0].classes)
        for cand in self.candidates[1:]:
            common &= set(cand.classes)
        return tuple(sorted(common))


@dataclass(frozen=True, slots=True)
class Unresolved:
    """A text that names no product or ingredient of the index, with the reason."""

    text: str
    reason: str
    recognised: tuple[str, ...] = ()  # ingredients it did name ("codeine" of "codeine/xyz")


Resolution = Resolved | Ambiguous | Unresolved


# --- codes -------------------------------------------------------------------------------

_PREFIX = re.compile(r"^(ndc|rxcui|rxnorm)\s*[:#]?\s*(.+)$", re.IGNORECASE)
_NDC_ATTEMPT = re.compile(r"^[0-9A-Za-z]+(?:-[0-9A-Za-z]+)+$|^[0-9A-Za-z]{9,12}$")


def _code(index: ProductIndex, raw: str, field: str) -> Resolution | None:
    """The resolution of a code, None when the text is not a code; malformed NDCs raise."""
    prefixed = _PREFIX.match(raw)
    if prefixed:
        system, code = prefixed[1].lower(), prefixed[2].strip()
        if system == "ndc":
            return _by_ndc(index, raw, code, field)
        if not (code.isascii() and code.isdigit()):
            raise InvalidInput(field, f"RxNorm code {code!r} must be digits")
        return _by_rxnorm(index, raw, code)
    if raw.isascii() and raw.isdigit():
        if len(raw) <= 8:
            return _by_rxnorm(index, raw, raw)
        return _by_ndc(index, raw, raw, field)
    if _NDC_ATTEMPT.match(raw) and sum(c.isdigit() for c in raw) >= 8:
        return _by_ndc(index, raw, raw, field)  # letters in an NDC: ndc11 names the field
    return None


def _by_ndc(index: ProductIndex, raw: str, code: str, field: str) -> Resolution:
    rows = [index.by_ndc[n] for n in ndc11(code, field) if n in index.by_ndc]
    if not rows:
        return Unresolved(raw, f"NDC {code} is not in the product index")
    return _result(index, raw, "ndc", index.products(rows), Dose())


def _by_rxnorm(index: ProductIndex, raw: str, code: str) -> Resolution:
    row = index.by_rxnorm.get(code)
    if row is None:
        return Unresolved(raw, f"RxNorm code {code} is not in the product index")
    return _result(index, raw, "rxnorm", (index.product(row),), Dose())


def resolve_coding(index: ProductIndex, system: str, code: str, field: str) -> Resolution:
    """A FHIR coding (NDC or RxNorm system) resolved; another system is unresolved."""
    if system == NDC_SYSTEM:
        return _by_ndc(index, code, code, field)
    if system == RXNORM_SYSTEM:
        if not (code.isascii() and code.isdigit()):
            raise InvalidInput(field, f"RxNorm code {code!r} must be digits")
        return _by_rxnorm(index, code, code)
    return Unresolved(code, f"code system {system} is not read (NDC and RxNorm are)")


# Words of a dose form or release written in a name ("oxycodone ER", "Xanax XR tab"): not
# part of the name; they narrow the products when some fit them.
_FORM_WORDS: dict[str, tuple[str | None, bool | None]] = {
    "er": (None, True), "xr": (None, True), "sr": (None, True), "cr": (None, True),
    "xl": (None, True), "la": (None, True), "ir": (None, False),
    "tab": ("tablet", None), "tabs": ("tablet", None), "tablet": ("tablet", None),
    "tablets": ("tablet", None), "cap": ("capsule", None), "caps": ("capsule", None),
    "capsule": ("capsule", None), "capsules": ("capsule", None), "patch": ("patch", None),
    "transdermal": ("patch", None), "film": ("film", None), "odt": ("tablet", None),
    "solution": ("liquid", None), "soln": ("liquid", None), "liquid": ("liquid", None),
    "syrup": ("liquid", None), "elixir": ("liquid", None), "suspension": ("liquid", None),
    "oral": (None, None), "sublingual": (None, None), "buccal": (None, None),
    "injection": ("injection", None), "inj": ("injection", None),
}  # fmt: skip

# --- the dose written after a name --------------------------------------------------------

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


def parse_dose(text: str) -> Dose:
    """The dose part of a medication: "5/325 mg q6h", "5 mL q4h", "75 mcg/h", "8/2 mg daily"."""
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
    form_words = tuple(w for w in words if w in _FORM_WORDS)
    rest = " ".join(w for w in words if w not in _FORM_WORDS)
    frequency = None
    if rest:
        try:
            frequency = parse_frequency(rest)
        except UnitError:
            frequency = None
    return Dose(strengths, unit, amount, amount_unit, frequency, rest, as_needed, form_words)


# --- names -------------------------------------------------------------------------------

_SPLIT_NAME = re.compile(r"\s(?=[\d.])")
_WITH = re.compile(r"\bw/\s*")


def resolve(index: ProductIndex, text: str, field: str = "medication") -> Resolution:
    """What a medication written as text, an NDC or an RxNorm code is (see the module).

    Results are remembered (they are immutable, and the index never changes): dispensing
    data and order streams repeat the same few thousand spellings millions of times.
    """
    return _resolve(index, " ".join(text.split()), field)


@lru_cache(maxsize=1 << 16)
def _resolve(index: ProductIndex, raw: str, field: str) -> Resolution:
    if not raw:
        raise InvalidInput(field, "empty: write a medication name, an NDC or an RxNorm code")
    coded = _code(index, raw, field)
    if coded is not None:
        return coded
    whole = index.by_name.get(name_key(raw))
    if whole:
        return _result(index, raw, "name", index.products(whole), Dose())
    if " / " in raw or "[" in raw:
        display = parse_display(raw.upper())
        if display is not None:
            return _rxnorm_name(index, raw, display)
    low = number_signs(_WITH.sub("with ", raw.lower()))
    alias = _alias(index, low)
    if alias is not None:
        low = alias.means + low[len(alias.text) :]
    parts = _SPLIT_NAME.split(low, maxsplit=1)
    name, dose = parts[0], parse_dose(parts[1]) if len(parts) > 1 else Dose()
    words = name.split()
    form_words = [*(w for w in words if w in _FORM_WORDS), *dose.form_words]
    bare = " ".join(w for w in words if w not in _FORM_WORDS) or name
    for key in dict.fromkeys((name_key(name), name_key(bare))):
        rows = index.by_name.get(key)
        if rows:
            named = index.products(rows)
            drugs = {p.ingredient_ids for p in named}
            products = _narrow(named, dose, form_words)
            if not products and len(drugs) > 1:
                products = named  # no strength fits: the name alone, and it is ambiguous
            drug = tuple(sorted(drugs.pop())) if len(drugs) == 1 else None
            return _result(index, raw, "name", products, dose, alias, drug=drug)
    ids = [index.ingredient_id(p) for p in split_ingredients(bare)]
    known = tuple(sorted({i for i in ids if i is not None}))
    if not ids or None in ids:
        reason = f"could not identify {bare!r}" + (
            f" (it names {', '.join(known)}, and something else)" if known else ""
        )
        return Unresolved(raw, reason, known)
    products = _narrow(index.products(index.by_drug.get(frozenset(known), ())), dose, form_words)
    return _result(index, raw, "ingredients", products, dose, alias, drug=known)


def _rxnorm_name(index: ProductIndex, raw: str, display: Display) -> Resolution:
    """A name written the RxNorm way: "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG
    Oral Tablet [Percocet]" (the display of a FHIR coding whose code is not in the index)."""
    ids = [index.ingredient_id(c.name) for c in display.components]
    known = tuple(sorted({i for i in ids if i is not None}))
    if None in ids:
        names = ", ".join(c.name.lower() for c, i in zip(display.components, ids, strict=True)
                          if i is None)  # fmt: skip
        return Unresolved(raw, f"could not identify {names}", known)
    amounts = [strength(c.value, c.unit) for c in display.components]
    units = {a[1] for a in amounts if a is not None}
    dose = Dose(
        strengths=tuple(a[0] for a in amounts if a is not None),
        strength_unit=units.pop() if len(units) == 1 else None,
        form_words=tuple(w for w in display.form.lower().split() if w in _FORM_WORDS),
    )
    drug = frozenset(known)
    rows = index.by_name.get(name_key(display.brand), ()) if display.brand else ()
    named = tuple(p for p in index.products(rows) if p.ingredient_ids == drug)
    products = named or index.products(index.by_drug.get(drug, ()))
    return _result(index, raw, "name", _narrow(products, dose, list(dose.form_words)), dose,
                   drug=known)  # fmt: skip


def _alias(index: ProductIndex, low: str) -> Alias | None:
    for text, alias in index.names.items():
        if low.startswith(text) and (len(low) == len(text) or low[len(text)] == " "):
            return alias
    return None


def _narrow(
    products: tuple[Product, ...], dose: Dose, form_words: list[str]
) -> tuple[Product, ...]:
    """The products that fit the written strengths and form words (the best fits).

    RxNorm components (a strength without a dose form) are left out when products with a
    dose form fit: a name written by a person means something one takes."""
    products = tuple(p for p in products if p.form) or products
    if form_words:
        fitting = tuple(p for p in products if all(_fits_form(p, w) for w in form_words))
        products = fitting or products
    if not dose.strengths:
        return products
    scored = [(s, p) for p in products if (s := _strength_score(p, dose)) is not None]
    best = max((s for s, _ in scored), default=None)
    return tuple(p for s, p in scored if s == best)


def _fits_form(product: Product, word: str) -> bool:
    group, extended = _FORM_WORDS[word]
    if group is not None and product.form_group != group:
        return False
    return extended is None or product.extended_release == extended


def _strength_score(product: Product, dose: Dose) -> int | None:
    """How many written strengths equal a strength of the product, or None when one of them
    fits no ingredient (an ingredient without a strength on record fits any number)."""
    known = list(product.known_strengths)
    free = product.unknown_strengths
    unit = dose.strength_unit
    score = 0
    for number in dose.strengths:
        for n, (value, value_unit) in enumerate(known):
            if value == number and (unit is None or unit == value_unit):
                del known[n]
                score += 1
                break
        else:
            if not free:
                return None
            free -= 1
    return score


def _result(
    index: ProductIndex,
    raw: str,
    matched: Matched,
    products: tuple[Product, ...],
    dose: Dose,
    alias: Alias | None = None,
    drug: tuple[str, ...] | None = None,
) -> Resolution:
    drugs: dict[frozenset[str], list[Product]] = {}
    for product in products:
        drugs.setdefault(product.ingredient_ids, []).append(product)
    if len(drugs) > 1:
        return Ambiguous(raw, tuple(
            Candidate(tuple(sorted(ids)), _classes(index, ids), tuple(found))
            for ids, found in sorted(drugs.items(), key=lambda kv: sorted(kv[0]))
        ))  # fmt: skip
    ids = next(iter(drugs)) if drugs else frozenset(drug or ())
    mme, note = _mme_per_unit(index, ids, products, dose)
    return Resolved(
        text=raw,
        matched=matched,
        ingredients=tuple(sorted(ids)),
        classes=_classes(index, ids),
        products=products,
        dose=dose,
        opioid_use_disorder_treatment=any(
            index.ingredients[i].opioid_use_disorder_treatment for i in ids
        ),
        mme_per_unit=mme,
        mme_note=note,
        alias=alias,
        note=""
        if products
        else f"no product of {' / '.join(sorted(ids))} "
        f"{_written(dose)}in the product index".replace("  ", " "),
    )


def _written(dose: Dose) -> str:
    if not dose.strengths:
        return ""
    numbers = "/".join(format(s.normalize(), "f") for s in dose.strengths)
    return f"{numbers} {dose.strength_unit or ''} ".replace("  ", " ")


def _classes(index: ProductIndex, ids: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted({c for i in ids for c in index.ingredients[i].classes}))


def _mme_per_unit(
    index: ProductIndex, ids: frozenset[str], products: tuple[Product, ...], dose: Dose
) -> tuple[Decimal | None, str]:
    opioids = [index.ingredients[i] for i in sorted(ids) if OPIOIDS in index.ingredients[i].classes]
    if not opioids:
        return None, ""
    if products:
        values = {p.mme_per_unit for p in products}
        if len(values) == 1 and None not in values:
            return values.pop(), ""
        notes = {p.mme_note for p in products if p.mme_note}
        if len(notes) == 1 and None in values and len(values) == 1:
            return None, notes.pop()
        strengths = sorted({s for p in products if (s := _opioid_strength(p)) is not None})
        return None, (
            f"the products differ in strength ({', '.join(strengths)}); give the strength"
            if len(strengths) > 1 else "; ".join(sorted(notes)) or "no MME per unit"
        )  # fmt: skip
    # No product: a single opioid written with its strength ("oxycodone 7 mg").
    opioid = opioids[0]
    if len(ids) != 1 or opioid.mme_factor is None:
        return None, opioid.mme_note or "no product of this strength in the index"
    if len(dose.strengths) == 1 and _basis_fits(opioid.mme_basis, dose.strength_unit):
        return dose.strengths[0] * opioid.mme_factor, ""
    return None, f"no strength of {opioid.id} written in {opioid.mme_basis}"


def _basis_fits(basis: str | None, unit: str | None) -> bool:
    return (basis, unit) in {("mg", "mg"), ("mg", "mg/mL"), ("mcg/h", "mcg/h")}


def _opioid_strength(product: Product) -> str | None:
    found = product.strength_of(product.mme_ingredient) if product.mme_ingredient else None
    return f"{format(found[0].normalize(), 'f')} {found[1]}" if found else None


@dataclass(frozen=True, slots=True)
class MmeEstimate:
    """Morphine milligram equivalents per day (CDC 2022), or None with the reason."""

    mme_per_day: Decimal | None
    reason: str = ""


def mme_per_day(resolved: Resolved) -> MmeEstimate:
    """MME per day from the MME per unit and the dose written (units or mL, and frequency).

    A strength written without an amount is one unit ("oxycodone 10 mg qid" is one 10 mg
    tablet four times a day); "5 mL q4h" needs the product's concentration; a patch's MME is
    per day worn, whatever the frequency.
    """
    if resolved.mme_per_unit is None:
        return MmeEstimate(None, resolved.mme_note or "not an opioid")
    dose = resolved.dose
    product = resolved.products[0] if resolved.products else None
    if product is not None and product.mme_basis == "mcg/h":
        return MmeEstimate(resolved.mme_per_unit * (dose.amount or 1))
    liquid = all(p.form_group == "liquid" for p in resolved.products) and resolved.products
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
    units = dose.amount if dose.amount is not None else Decimal(1)
    return MmeEstimate(resolved.mme_per_unit * units * dose.frequency.times_per_day)
