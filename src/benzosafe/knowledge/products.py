"""The product index: every NDC and RxNorm product benzosafe knows, typed, and its lazy loader.

``knowledge/data/products/products.json`` is derived from the CDC NDC/MME workbook and the CDC
value sets by :mod:`benzosafe.knowledge.products_build` (with the curated ``aliases.toml``)
and committed. :func:`load_products` reads and validates it strictly, once, at first use;
:func:`load_products_from` reads another file (tests). The :class:`ProductIndex` it returns
holds the products, the ingredient table (classes, CDC 2022 MME factor, opioid-use-disorder
treatment), the curated aliases, the provenance and the look-up tables of the resolver
(:mod:`benzosafe.clinical.resolve`). The header is validated by strict pydantic models; the
~3,000 product rows by a strict hand-written reader into slotted dataclasses, because the
command line reads this file on a cold start (pydantic took 3-4 times as long for them).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import Field, ValidationError

from benzosafe.errors import KnowledgeError
from benzosafe.knowledge.loader import data_root
from benzosafe.knowledge.models import Citation, Cited, Source, Strict
from benzosafe.knowledge.products_spelling import Spelling, name_key

FORMAT = "benzosafe-products/1"
Unit = Literal["mg", "mg/mL", "mcg/h", "mg/actuation"]
# What one "unit" of a product is, for counting doses: a tablet, a millilitre, a patch worn.
FormGroup = Literal[
    "tablet", "capsule", "film", "lozenge", "liquid", "patch", "spray", "suppository",
    "injection", "implant", "gel", "other",
]  # fmt: skip
MmeBasis = Literal["mg", "mcg/h"]
Schedule = Literal["II", "III", "IV", "V"]


@dataclass(frozen=True, slots=True)
class ProductIngredient:
    """One ingredient of a product as its source writes it, with the strength when given.

    In the file a row: ``[id, name]`` or ``[id, name, strength, unit]``.
    """

    id: str
    name: str
    strength: Decimal | None = None
    unit: Unit | None = None


@dataclass(frozen=True, slots=True)
class Product:
    """A product: a group of NDCs (CDC workbook), an RxNorm code (value set) or a curated one.

    ``mme_factor`` is the CDC 2022 factor of ``mme_ingredient`` for this product (per mg, or
    per mcg/h for a patch), or None with the reason in ``mme_note``; ``mme_factor_2018`` is
    the workbook's analytic factor, kept for reference and never used for a dose.
    """

    id: str
    name: str
    generic: str
    form: str
    form_group: FormGroup
    ingredients: tuple[ProductIngredient, ...]
    source: str  # a key of ProductFile.origins
    brand: str | None = None
    extended_release: bool = False
    classes: tuple[str, ...] = ()
    ndc: tuple[str, ...] = ()
    rxnorm: tuple[str, ...] = ()
    dea_schedule: Schedule | None = None
    acting: Literal["SA", "LA"] | None = None
    mme_ingredient: str | None = None
    mme_factor: Decimal | None = None
    mme_basis: MmeBasis | None = None
    mme_note: str = ""
    mme_factor_2018: Decimal | None = None
    opioid_use_disorder_treatment: bool = False
    sources: tuple[Citation, ...] = ()
    # Worked out once from the fields above, for the resolver.
    ingredient_ids: frozenset[str] = field(init=False, repr=False, compare=False)
    mme_per_unit: Decimal | None = field(init=False, repr=False, compare=False)
    mme_per_ml: bool = field(init=False, repr=False, compare=False)  # the opioid is per mL
    # The strength of the ingredient whose factor is used (the opioid), when known.
    mme_strength: tuple[Decimal, Unit] | None = field(init=False, repr=False, compare=False)
    known_strengths: tuple[tuple[Decimal, Unit], ...] = field(init=False, repr=False, compare=False)
    unknown_strengths: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        known = tuple((i.strength, i.unit) for i in self.ingredients
                      if i.strength is not None and i.unit is not None)  # fmt: skip
        object.__setattr__(self, "ingredient_ids", frozenset(i.id for i in self.ingredients))
        object.__setattr__(self, "known_strengths", known)
        object.__setattr__(self, "unknown_strengths", len(self.ingredients) - len(known))
        found = self.strength_of(self.mme_ingredient) if self.mme_ingredient else None
        object.__setattr__(self, "mme_strength", found)
        object.__setattr__(self, "mme_per_ml", found is not None and found[1] == "mg/mL")
        # MME per tablet, per mL or (patches) per day worn, from the opioid's strength.
        per_unit = found[0] * self.mme_factor if found and self.mme_factor is not None else None
        object.__setattr__(self, "mme_per_unit", per_unit)

    def strength_of(self, ingredient_id: str) -> tuple[Decimal, Unit] | None:
        """The strength of one ingredient (two salts of it add up), or None when not given."""
        found = [i for i in self.ingredients if i.id == ingredient_id]
        if not found or any(i.strength is None or i.unit is None for i in found):
            return None
        units = {i.unit for i in found if i.unit is not None}
        if len(units) != 1:
            return None
        unit = units.pop()
        return sum((i.strength for i in found if i.strength is not None), Decimal(0)), unit


class Ingredient(Strict):
    """An ingredient: classes, CDC 2022 MME factor, whether it treats opioid use disorder."""

    id: str
    names: tuple[str, ...] = Field(min_length=1)
    classes: tuple[str, ...] = ()
    rxnorm: str | None = None
    mme_factor: Decimal | None = None
    mme_basis: MmeBasis | None = None
    mme_note: str = ""
    opioid_use_disorder_treatment: bool = False
    sources: Cited = Field(default_factory=list)


class Alias(Strict):
    """A curated spelling and what it means, with its sources."""

    text: str
    means: str
    sources: Cited = Field(min_length=1)


class SourceFile(Strict):
    """One input of the build: which file, its digest and dates, and what was kept of it."""

    file: str
    sha256: str
    title: str
    date: str = ""
    version: str = ""
    read: int
    kept: int
    dropped: dict[str, int] = Field(default_factory=dict)
    notes: tuple[str, ...] = ()


class Provenance(Strict):
    built_by: str
    sources: tuple[SourceFile, ...] = Field(min_length=1)
    products: int
    ndcs: int
    rxnorm_codes: int
    notes: tuple[str, ...] = ()


class Origin(Strict):
    """Where products come from (a workbook sheet, a value set, the curated file)."""

    title: str
    sources: Cited = Field(min_length=1)


class Header(Strict):
    """Everything in the file but the products."""

    format: Literal["benzosafe-products/1"]
    provenance: Provenance
    sources: dict[str, Source]
    origins: dict[str, Origin]
    descriptors: tuple[str, ...]
    descriptor_sources: Cited = Field(min_length=1)
    abbreviations: tuple[Alias, ...]
    names: tuple[Alias, ...]
    ingredients: tuple[Ingredient, ...]


_REMEMBERED = 1 << 16  # spellings of ingredients remembered, at most


class ProductIndex:
    """The file's header, its product rows and the look-up tables of the resolver.

    The look-up tables are built on load from the rows (NDCs, RxNorm codes, names, ingredient
    sets, each pointing at a row). A row becomes a :class:`Product` (validated strictly,
    :func:`read_product`) the first time it is asked for, and stays: a command that resolves
    three names reads three products, not three thousand. :meth:`validate` reads them all
    (the build and the test suite do).
    """

    def __init__(self, header: Header, rows: list[Any], where: str) -> None:
        self.header = header
        self.where = where
        self.provenance = header.provenance
        self.sources = header.sources
        self.ingredients = {i.id: i for i in header.ingredients}
        self.ingredient_by_rxnorm = {i.rxnorm: i.id for i in header.ingredients if i.rxnorm}
        self.names = {a.text: a for a in header.names}
        self.spelling = Spelling({a.text: a.means for a in header.abbreviations},
                                 header.descriptors)  # fmt: skip
        self.ingredient_by_name: dict[str, str] = {}
        self._ingredient_ids: dict[str, str | None] = {}
        for ing in header.ingredients:
            for spelled in (ing.id, *ing.names):
                self.ingredient_by_name.setdefault(self.spelling.ingredient_key(spelled), ing.id)
        self._rows = rows
        self._products: list[Product | None] = [None] * len(rows)
        self.by_ndc: dict[str, int] = {}
        self.by_rxnorm: dict[str, int] = {}
        by_name: defaultdict[str, list[int]] = defaultdict(list)
        by_drug: defaultdict[frozenset[str], list[int]] = defaultdict(list)
        for n, row in enumerate(rows):
            try:
                ndcs, codes, names, drug = _keys(row)
            except _Bad as exc:
                raise self._error(n, exc) from exc
            for ndc in ndcs:
                if self.by_ndc.setdefault(ndc, n) != n:
                    raise self._error(n, _Bad(f"NDC {ndc} is listed under two products"))
            for code in codes:
                self.by_rxnorm[code] = n
            for name in names:
                by_name[name_key(name)].append(n)
            by_drug[drug].append(n)
        self.by_name = {k: tuple(v) for k, v in by_name.items()}
        self.by_drug = {k: tuple(v) for k, v in by_drug.items()}

    def __len__(self) -> int:
        return len(self._rows)

    def product(self, n: int) -> Product:
        """The product of row ``n``, read and checked at its first use."""
        found = self._products[n]
        if found is None:
            try:
                found = read_product(self._rows[n])
                self._check(found)
            except (_Bad, ValidationError) as exc:
                raise self._error(n, exc) from exc
            self._products[n] = found
        return found

    def products(self, rows: Iterable[int] | None = None) -> tuple[Product, ...]:
        """The products of the given rows, or of every row."""
        return tuple(self.product(n) for n in (range(len(self)) if rows is None else rows))

    def validate(self) -> None:
        """Read and check every row now (the build and the test suite call this)."""
        ids = [p.id for p in self.products()]
        if len(ids) != len(set(ids)):
            raise KnowledgeError(f"product index {self.where}: a product id is listed twice")

    def ingredient_id(self, name: str) -> str | None:
        """The ingredient a name (with or without its salt) means, or None (remembered: the
        same few hundred spellings come back in every order and dispensing record)."""
        if name in self._ingredient_ids:
            return self._ingredient_ids[name]
        if len(self._ingredient_ids) >= _REMEMBERED:
            self._ingredient_ids.clear()
        found = self.ingredient_by_name.get(self.spelling.ingredient_key(name))
        self._ingredient_ids[name] = found
        return found

    def _check(self, product: Product) -> None:
        unknown = [i.id for i in product.ingredients if i.id not in self.ingredients]
        if unknown:
            raise _Bad(f"unknown ingredients {unknown}")
        if product.source not in self.header.origins:
            raise _Bad(f"unknown origin {product.source!r}")
        if any(len(ndc) != 11 for ndc in product.ndc):
            raise _Bad("an NDC that is not 11 digits")
        if (product.mme_factor is None) != (product.mme_basis is None):
            raise _Bad("an MME factor needs its basis")
        if product.mme_factor is not None and product.mme_ingredient not in product.ingredient_ids:
            raise _Bad("the MME factor's ingredient is not in the product")
        if any(c.ref not in self.sources for c in product.sources):
            raise _Bad("a citation to an unknown source")

    def _error(self, n: int, exc: Exception) -> KnowledgeError:
        row = self._rows[n]
        where = row.get("id", f"#{n}") if isinstance(row, dict) else f"#{n}"
        return KnowledgeError(f"product index {self.where}: product {where}: {exc}")


def _keys(row: Any) -> tuple[list[str], list[str], list[str], frozenset[str]]:
    """What a row is looked up by: NDCs, RxNorm codes, names, its set of ingredients.

    A generic name ("OXYCODONE HCL") is found through its ingredients, not as a name; the
    RxNorm name of a drug with a dose form is also found whole (the display of a FHIR
    coding); a component's ("Codeine sulfate 15 MG") is read like any generic name.
    """
    if type(row) is not dict:
        raise _Bad("a product is an object")
    ndc, codes, brand = row.get("ndc", ""), row.get("rxnorm", ""), row.get("brand")
    ingredients = row.get("ingredients")
    if type(ndc) is not str or type(codes) is not str or type(ingredients) is not list:
        raise _Bad("ndc and rxnorm must be strings, ingredients a list")
    if not all(type(i) is list and i and type(i[0]) is str for i in ingredients):
        raise _Bad("an ingredient is [id, name] or [id, name, strength, unit]")
    names = [brand] if type(brand) is str else []
    if codes and row.get("form") and type(row.get("name")) is str:
        names.append(row["name"])
    return ndc.split(), codes.split(), names, frozenset(i[0] for i in ingredients)


# --- reading and writing product rows -----------------------------------------------------

_REQUIRED = ("id", "name", "generic", "form", "form_group", "ingredients", "source")
_OPTIONAL = (
    "brand", "extended_release", "classes", "ndc", "rxnorm", "dea_schedule", "acting",
    "mme_ingredient", "mme_factor", "mme_basis", "mme_note", "mme_factor_2018",
    "opioid_use_disorder_treatment", "sources",
)  # fmt: skip
_KEYS = frozenset(_REQUIRED + _OPTIONAL)
_REQUIRED_KEYS = frozenset(_REQUIRED)
_CHOICES: dict[str, frozenset[str]] = {
    "form_group": frozenset(get_args(FormGroup)),
    "dea_schedule": frozenset(get_args(Schedule)),
    "acting": frozenset(("SA", "LA")),
    "mme_basis": frozenset(get_args(MmeBasis)),
}
_UNITS = frozenset(get_args(Unit))


class _Bad(ValueError):
    pass


_TEXT = ("id", "name", "generic", "form", "source", "brand", "mme_ingredient", "mme_note")
_DECIMALS = ("mme_factor", "mme_factor_2018")
_FLAGS = ("extended_release", "opioid_use_disorder_treatment")


def _decimal(value: Any, key: str) -> Decimal:
    if type(value) is not str:
        raise _Bad(f"{key} must be a decimal written as a string")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _Bad(f"{key} {value!r} is not a decimal") from None
    if not number.is_finite() or number <= 0:
        raise _Bad(f"{key} {value!r} must be more than zero")
    return number


def _ingredient(value: Any) -> ProductIngredient:
    if type(value) is not list or len(value) not in (2, 4):
        raise _Bad("an ingredient is [id, name] or [id, name, strength, unit]")
    if not all(type(v) is str for v in value):
        raise _Bad("an ingredient row holds strings")
    if len(value) == 2:
        return ProductIngredient(value[0], value[1])
    if value[3] not in _UNITS:
        raise _Bad(f"unit {value[3]!r} is not one of {sorted(_UNITS)}")
    return ProductIngredient(value[0], value[1], _decimal(value[2], "strength"), value[3])


def read_product(row: Any) -> Product:
    """One product row of the file, strictly: unknown keys and wrong types are errors."""
    if type(row) is not dict:
        raise _Bad("a product is an object")
    if not row.keys() <= _KEYS:
        raise _Bad(f"unknown keys {sorted(row.keys() - _KEYS)}")
    if not row.keys() >= _REQUIRED_KEYS:
        raise _Bad(f"missing keys {sorted(_REQUIRED_KEYS - row.keys())}")
    values: dict[str, Any] = {}
    for key in _TEXT:
        if key in row:
            if type(row[key]) is not str:
                raise _Bad(f"{key} must be a string")
            values[key] = row[key]
    for key, allowed in _CHOICES.items():
        if key in row:
            if row[key] not in allowed:
                raise _Bad(f"{key} {row[key]!r} is not one of {sorted(allowed)}")
            values[key] = row[key]
    for key in _DECIMALS:
        if key in row:
            values[key] = _decimal(row[key], key)
    for key in _FLAGS:
        if key in row:
            if type(row[key]) is not bool:
                raise _Bad(f"{key} must be true or false")
            values[key] = row[key]
    for key in ("ndc", "rxnorm"):
        if key in row:
            codes = row[key]
            if type(codes) is not str or not codes.replace(" ", "").isdigit():
                raise _Bad(f"{key} must be codes of digits separated by spaces")
            values[key] = tuple(codes.split())
    ingredients = row["ingredients"]
    if type(ingredients) is not list or not ingredients:
        raise _Bad("ingredients must be a non-empty list")
    values["ingredients"] = tuple(_ingredient(i) for i in ingredients)
    if "classes" in row:
        classes = row["classes"]
        if type(classes) is not list or not all(type(c) is str for c in classes):
            raise _Bad("classes must be a list of strings")
        values["classes"] = tuple(classes)
    if "sources" in row:
        if type(row["sources"]) is not list:
            raise _Bad("sources must be a list")
        values["sources"] = tuple(Citation.model_validate(c) for c in row["sources"])
    return Product(**values)


def product_row(product: Product) -> dict[str, Any]:
    """A product as its file row: defaults left out, codes as one space-separated string."""
    row: dict[str, Any] = {}
    for key in (*_REQUIRED, *_OPTIONAL):
        value = getattr(product, key)
        if key == "ingredients":
            value = [
                [i.id, i.name]
                + ([format(i.strength, "f"), i.unit] if i.strength is not None else [])
                for i in value
            ]
        elif key in ("ndc", "rxnorm", "classes") and not value:
            continue
        elif key in ("ndc", "rxnorm"):
            value = " ".join(value)
        elif key == "classes":
            value = list(value)
        elif key == "sources":
            value = [c.model_dump(exclude_defaults=True) for c in value]
        elif isinstance(value, Decimal):
            value = format(value, "f")
        if value in (None, False, "", []) and key not in _REQUIRED:
            continue
        row[key] = value
    return row


def load_products_from(path: Traversable | Path) -> ProductIndex:
    """Read a product index file: its header validated, its look-up tables built (raises
    KnowledgeError naming the problem). Product rows are checked at their first use."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise KnowledgeError(f"product index {path}: cannot read: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("products"), list):
        raise KnowledgeError(f"product index {path}: no list of products")
    rows = data.pop("products")
    try:
        header = Header.model_validate(data)
    except ValidationError as exc:
        raise KnowledgeError(f"product index {path}: {exc}") from exc
    cited = [*header.descriptor_sources]
    for aliases in (header.abbreviations, header.names):
        cited += [c for alias in aliases for c in alias.sources]
    cited += [c for ing in header.ingredients for c in ing.sources]
    cited += [c for origin in header.origins.values() for c in origin.sources]
    unknown = sorted({c.ref for c in cited} - header.sources.keys())
    if unknown:
        raise KnowledgeError(f"product index {path}: citations to unknown sources {unknown}")
    return ProductIndex(header, rows, str(path))


def products_path() -> Traversable:
    return data_root().joinpath("products").joinpath("products.json")


def load_products_below(root: Traversable | None) -> ProductIndex:
    """The product index of a knowledge data folder: the packaged one (``root`` None or the
    packaged folder) is read once and shared by every copy of the knowledge."""
    if root is None or str(root) == str(data_root()):
        return load_products()
    return load_products_from(root.joinpath("products").joinpath("products.json"))


@cache
def load_products() -> ProductIndex:
    """The packaged product index, loaded and validated once, at first use."""
    return load_products_from(products_path())
