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
result, never an exception. The dose written after a name is read by
:mod:`benzosafe.clinical.written_dose`; :mod:`benzosafe.clinical.mme` turns a resolution and
its dose into CDC 2022 morphine milligram equivalents, or says why it cannot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Literal

from benzosafe.clinical.written_dose import FORM_WORDS, Dose, parse_dose
from benzosafe.errors import InvalidInput
from benzosafe.knowledge.products import Alias, Ingredient, Product, ProductIndex
from benzosafe.knowledge.products_read import Display, parse_display, strength
from benzosafe.knowledge.products_spelling import name_key as _name_key
from benzosafe.knowledge.products_spelling import ndc11, number_signs, split_ingredients

NDC_SYSTEM = "http://hl7.org/fhir/sid/ndc"
RXNORM_SYSTEM = "http://www.nlm.nih.gov/research/umls/rxnorm"
OPIOIDS = "opioids"  # the class id of opioids in the knowledge base and the index

Matched = Literal["ndc", "rxnorm", "name", "ingredients"]
name_key = lru_cache(maxsize=1 << 16)(_name_key)  # the same spellings come back


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
    opioids: tuple[Ingredient, ...]  # its opioid ingredients, with their CDC 2022 factors
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


_NO_DOSE = Dose()  # a code names a product, not a dose (one instance: made once)


def _code(index: ProductIndex, raw: str, field: str) -> Resolution | None:
    """The resolution of a code, None when the text is not a code; malformed NDCs raise.

    Only a text that starts with a digit, or with "ndc" / "rx", can be a code: a name
    costs one character test (names are most of what is resolved)."""
    first = raw[0]
    if not first.isdigit():
        if first not in "nNrR":
            return None
        prefixed = _PREFIX.match(raw)
        if prefixed is None:
            return None
        system, code = prefixed[1].lower(), prefixed[2].strip()
        if system == "ndc":
            return _by_ndc(index, raw, code, field)
        if not (code.isascii() and code.isdigit()):
            raise InvalidInput(field, f"RxNorm code {code!r} must be digits")
        return _by_rxnorm(index, raw, code)
    if raw.isdigit() and raw.isascii():
        if len(raw) <= 8:
            return _by_rxnorm(index, raw, raw)
        return _by_ndc(index, raw, raw, field)
    bare = raw.replace("-", "")
    if len(bare) >= 8 and bare.isdigit() and bare.isascii():  # digits and hyphens
        if len(raw) == 13 and raw[5] == "-" and raw[10] == "-":  # 5-4-2, the usual spelling
            return _by_ndc(index, raw, bare, field)
        return _by_ndc(index, raw, raw, field)  # ndc11 reads (or refuses) the segments
    if _NDC_ATTEMPT.match(raw) and sum(c.isdigit() for c in raw) >= 8:
        return _by_ndc(index, raw, raw, field)  # letters in an NDC: ndc11 names the field
    return None


def _by_ndc(index: ProductIndex, raw: str, code: str, field: str) -> Resolution:
    if len(code) == 11 and code.isdigit() and code.isascii():  # one NDC, nothing padded
        row = index.by_ndc.get(code)
        rows = [row] if row is not None else []
    else:
        rows = [index.by_ndc[n] for n in ndc11(code, field) if n in index.by_ndc]
    if not rows:
        return Unresolved(raw, f"NDC {code} is not in the product index")
    products = index.products(rows)
    return _result(index, raw, "ndc", products, _NO_DOSE, drug=products[0].ingredient_ids)


def _by_rxnorm(index: ProductIndex, raw: str, code: str) -> Resolution:
    row = index.by_rxnorm.get(code)
    if row is None:
        ingredient = index.ingredient_by_rxnorm.get(code)
        if ingredient is not None:  # an ingredient's code (RxNorm IN): every product of it
            drug = frozenset((ingredient,))
            group = _group(index, index.by_drug.get(drug, ()))
            return _result(index, raw, "rxnorm", group.products, _NO_DOSE, group=group, drug=drug)
        return Unresolved(raw, f"RxNorm code {code} is not in the product index")
    product = index.product(row)
    return _result(index, raw, "rxnorm", (product,), _NO_DOSE, drug=product.ingredient_ids)


def resolve_coding(index: ProductIndex, system: str, code: str, field: str) -> Resolution:
    """A FHIR coding (NDC or RxNorm system) resolved; another system is unresolved."""
    if system == NDC_SYSTEM:
        return _by_ndc(index, code, code, field)
    if system == RXNORM_SYSTEM:
        if not (code.isascii() and code.isdigit()):
            raise InvalidInput(field, f"RxNorm code {code!r} must be digits")
        return _by_rxnorm(index, code, code)
    return Unresolved(code, f"code system {system} is not read (NDC and RxNorm are)")


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
        if len(whole) == 1:  # one product: nothing to group or narrow
            product = index.product(whole[0])
            return _result(index, raw, "name", (product,), _NO_DOSE, drug=product.ingredient_ids)
        group = _group(index, whole)
        return _result(index, raw, "name", group.products, _NO_DOSE, group=group)
    if " / " in raw or "[" in raw:
        display = parse_display(raw.upper())
        if display is not None:
            return _rxnorm_name(index, raw, display)
    low = number_signs(_WITH.sub("with ", raw.lower()))
    alias = _alias(index, low)
    if alias is not None:
        low = alias.means + low[len(alias.text) :]
    parts = _SPLIT_NAME.split(low, maxsplit=1)
    name, dose = parts[0], parse_dose(parts[1]) if len(parts) > 1 else _NO_DOSE
    words = name.split()
    form_words = [*(w for w in words if w in FORM_WORDS), *dose.form_words]
    bare = " ".join(w for w in words if w not in FORM_WORDS) or name
    for key in dict.fromkeys((name_key(name), name_key(bare))):
        rows = index.by_name.get(key)
        if rows and len(rows) == 1 and not dose.strengths and not form_words:
            product = index.product(rows[0])
            return _result(index, raw, "name", (product,), dose, alias,
                           drug=product.ingredient_ids)  # fmt: skip
        if rows:
            group = _group(index, rows)
            products = _narrow(group, dose, form_words)
            if not products and len(group.drugs) > 1:
                products = group.products  # no strength fits the name, and it is ambiguous
            return _result(index, raw, "name", products, dose, alias, group=group)
    ids = [index.ingredient_id(p) for p in split_ingredients(bare)]
    known = tuple(sorted({i for i in ids if i is not None}))
    if not ids or None in ids:
        reason = f"could not identify {bare!r}" + (
            f" (it names {', '.join(known)}, and something else)" if known else ""
        )
        return Unresolved(raw, reason, known)
    group = _group(index, index.by_drug.get(frozenset(known), ()))
    products = _narrow(group, dose, form_words)
    return _result(index, raw, "ingredients", products, dose, alias, group, frozenset(known))


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
        form_words=tuple(w for w in display.form.lower().split() if w in FORM_WORDS),
    )
    drug = frozenset(known)
    rows = index.by_name.get(name_key(display.brand), ()) if display.brand else ()
    named = tuple(n for n in rows if index.product(n).ingredient_ids == drug)
    group = _group(index, named or index.by_drug.get(drug, ()))
    products = _narrow(group, dose, list(dose.form_words))
    return _result(index, raw, "name", products, dose, group=group, drug=drug)


def _alias(index: ProductIndex, low: str) -> Alias | None:
    for text, alias in index.names.items():
        if low.startswith(text) and (len(low) == len(text) or low[len(text)] == " "):
            return alias
    return None


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed by identity
class _Group:
    """The products of one name or one set of ingredients, with what narrowing them needs."""

    products: tuple[Product, ...]  # with a dose form when any has one (see _group)
    drugs: frozenset[frozenset[str]]
    by_value: dict[Decimal, tuple[int, ...]]  # a strength -> positions in products
    # Positions of products with ingredients of no strength, and how many: any number fits
    # those, so a product with as many as the numbers written fits without a match.
    unknown: tuple[tuple[int, int], ...]


@lru_cache(maxsize=1 << 13)
def _group(index: ProductIndex, rows: tuple[int, ...]) -> _Group:
    """RxNorm components (a strength without a dose form) are left out when products with a
    dose form are there: a name written by a person means something one takes."""
    everything = index.products(rows)
    products = tuple(p for p in everything if p.form) or everything
    by_value: dict[Decimal, list[int]] = {}
    for n, product in enumerate(products):
        for value, _unit in product.known_strengths:
            by_value.setdefault(value, []).append(n)
    return _Group(
        products=products,
        drugs=frozenset(p.ingredient_ids for p in everything),
        by_value={v: tuple(dict.fromkeys(ns)) for v, ns in by_value.items()},
        unknown=tuple(
            (n, p.unknown_strengths) for n, p in enumerate(products) if p.unknown_strengths
        ),
    )


def _narrow(group: _Group, dose: Dose, form_words: list[str]) -> tuple[Product, ...]:
    """The products that fit the written strengths and form words (the best fits)."""
    if not dose.strengths and not form_words:
        return group.products
    return _narrowed(group, dose.strengths, dose.strength_unit, tuple(form_words))


@lru_cache(maxsize=1 << 14)
def _narrowed(
    group: _Group, strengths: tuple[Decimal, ...], unit: str | None, form_words: tuple[str, ...]
) -> tuple[Product, ...]:
    # By strength first, through the group's index of strengths (a few products), then by
    # form words; the same products as filtering all by form words first.
    if strengths:
        found = {n for n, free in group.unknown if free >= len(strengths)}
        for number in strengths:
            found.update(group.by_value.get(number, ()))
        products = tuple(group.products[n] for n in sorted(found))
    else:
        products = group.products
    if form_words:
        wanted = [FORM_WORDS[w] for w in form_words]

        def fits(p: Product) -> bool:
            return all(
                (kind is None or p.form_group == kind)
                and (extended is None or p.extended_release == extended)
                for kind, extended in wanted
            )

        fitting = tuple(p for p in products if fits(p))
        if fitting:
            products = fitting
        elif strengths and any(fits(p) for p in group.products):
            return ()  # the form words fit products of other strengths only
    if not strengths:
        return products
    scored = [(s, p) for p in products if (s := _strength_score(p, strengths, unit)) is not None]
    best = max((s for s, _ in scored), default=None)
    return tuple(p for s, p in scored if s == best)


def _strength_score(
    product: Product, strengths: tuple[Decimal, ...], unit: str | None
) -> int | None:
    """How many written strengths equal a strength of the product, or None when one of them
    fits no ingredient (an ingredient without a strength on record fits any number)."""
    known = list(product.known_strengths)
    free = product.unknown_strengths
    score = 0
    for number in strengths:
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
    group: _Group | None = None,
    drug: frozenset[str] | None = None,
) -> Resolution:
    if group is not None and len(group.drugs) <= 1 and (drug is None or group.drugs <= {drug}):
        drug = next(iter(group.drugs), drug or frozenset())  # one drug: no grouping
    elif drug is None or any(p.ingredient_ids != drug for p in products):
        drugs: dict[frozenset[str], list[Product]] = {}
        for product in products:
            drugs.setdefault(product.ingredient_ids, []).append(product)
        if len(drugs) > 1:
            return Ambiguous(raw, tuple(
                Candidate(_drug(index, ids).ingredients, _drug(index, ids).classes, tuple(found))
                for ids, found in sorted(drugs.items(), key=lambda kv: sorted(kv[0]))
            ))  # fmt: skip
        drug = next(iter(drugs)) if drugs else frozenset()
    info = _drug(index, drug)
    mme, note = _mme_per_unit(info, products, dose, group)
    return Resolved(
        text=raw,
        matched=matched,
        ingredients=info.ingredients,
        classes=info.classes,
        products=products,
        dose=dose,
        opioid_use_disorder_treatment=info.opioid_use_disorder_treatment,
        opioids=info.opioids,
        mme_per_unit=mme,
        mme_note=note,
        alias=alias,
        note=""
        if products
        else f"no product of {' / '.join(info.ingredients)} "
        f"{_written(dose)}in the product index".replace("  ", " "),
    )


@dataclass(frozen=True, slots=True)
class _Drug:
    ingredients: tuple[str, ...]
    classes: tuple[str, ...]
    opioid_use_disorder_treatment: bool
    opioids: tuple[Ingredient, ...]


@lru_cache(maxsize=1 << 12)
def _drug(index: ProductIndex, ids: frozenset[str]) -> _Drug:
    ings = [index.ingredients[i] for i in sorted(ids)]
    return _Drug(
        ingredients=tuple(i.id for i in ings),
        classes=tuple(sorted({c for i in ings for c in i.classes})),
        opioid_use_disorder_treatment=any(i.opioid_use_disorder_treatment for i in ings),
        opioids=tuple(i for i in ings if OPIOIDS in i.classes),
    )


def _written(dose: Dose) -> str:
    if not dose.strengths:
        return ""
    numbers = "/".join(format(s.normalize(), "f") for s in dose.strengths)
    return f"{numbers} {dose.strength_unit or ''} ".replace("  ", " ")


def _mme_per_unit(
    drug: _Drug, products: tuple[Product, ...], dose: Dose, group: _Group | None
) -> tuple[Decimal | None, str]:
    if not drug.opioids:
        return None, ""
    if products:
        if group is not None and products is group.products:
            return _group_mme(group)
        return _products_mme(products)
    # No product: a single opioid written with its strength ("oxycodone 7 mg").
    opioid = drug.opioids[0]
    if len(drug.ingredients) != 1 or opioid.mme_factor is None:
        return None, opioid.mme_note or "no product of this strength in the index"
    if len(dose.strengths) == 1 and _basis_fits(opioid.mme_basis, dose.strength_unit):
        return dose.strengths[0] * opioid.mme_factor, ""
    return None, f"no strength of {opioid.id} written in {opioid.mme_basis}"


@lru_cache(maxsize=1 << 13)
def _group_mme(group: _Group) -> tuple[Decimal | None, str]:
    return _products_mme(group.products)


def _products_mme(products: tuple[Product, ...]) -> tuple[Decimal | None, str]:
    """The MME per unit the products agree on, or why there is none."""
    if len(products) == 1:  # one product (an NDC, an RxNorm code): its own
        only = products[0]
        if only.mme_per_unit is not None:
            return only.mme_per_unit, ""
        return None, only.mme_note or "no MME per unit"
    values = {p.mme_per_unit for p in products}
    if len(values) == 1 and None not in values:
        if len({p.mme_per_ml for p in products}) > 1:
            return None, "tablets and liquids alike fit: write the strength's unit (mg or mg/mL)"
        return values.pop(), ""
    notes = {p.mme_note for p in products if p.mme_note}
    if len(notes) == 1 and values == {None}:
        return None, notes.pop()
    strengths = sorted({s for p in products if (s := _opioid_strength(p)) is not None})
    return None, (
        f"the products differ in strength ({', '.join(strengths)}); give the strength"
        if len(strengths) > 1 else "; ".join(sorted(notes)) or "no MME per unit"
    )  # fmt: skip


def per_ml(product: Product) -> bool:
    """Whether the product's opioid strength is per mL (its MME per unit is per mL)."""
    return product.mme_per_ml


def _basis_fits(basis: str | None, unit: str | None) -> bool:
    return (basis, unit) in {("mg", "mg"), ("mg", "mg/mL"), ("mcg/h", "mcg/h")}


def _opioid_strength(product: Product) -> str | None:
    found = product.mme_strength
    return f"{format(found[0].normalize(), 'f')} {found[1]}" if found else None
