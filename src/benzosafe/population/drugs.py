"""Drug classification for screening: the look-up table from a record's drug to an ingredient.

The table (:func:`drug_keys`) holds the class table's names, brands and RxNorm ingredient
codes, the user's own product codes (``code,ingredient[,strength_mg]``; explicit, so they
win), and each distinct drug value of the records resolved once by the one resolver
(:mod:`benzosafe.clinical.resolve`: NDCs in any spelling, RxNorm codes, product, brand and
generic names, combinations), with its strength when the products it fits agree on one. The
screening SQL joins the records to this table, so a million fills cost one resolution per
distinct value. Dose bands come from the shared Joint guideline bands
(``assessment/level_of_care.toml``) and diazepam equivalents through
:mod:`benzosafe.clinical.equivalence`; :func:`import_cdc_workbook` still makes a mapping
table from the CDC NDC/MME workbook for those who keep one.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from benzosafe.clinical.equivalence import diazepam_equivalent
from benzosafe.clinical.medications import (
    BENZODIAZEPINE,
    Classified,
    classified,
    classify_ingredients,
    primary,
    shared_strength,
)
from benzosafe.clinical.resolve import Ambiguous, resolve
from benzosafe.errors import InvalidInput
from benzosafe.knowledge import Knowledge
from benzosafe.knowledge.models import KnowledgeBase
from benzosafe.units import parse_mass

MAP_COLUMNS = ("code", "ingredient", "strength_mg")


@dataclass(frozen=True)
class DrugKey:
    """One way a record can name a drug, and what it resolves to."""

    drug_key: str
    ingredient: str
    drug_class: str
    de_per_mg: float | None
    low_max_mg: float | None
    moderate_max_mg: float | None
    strength_mg: float | None = None


@dataclass(frozen=True)
class ProductCode:
    """A row of a user-supplied product mapping: an NDC or product code to its ingredient."""

    code: str
    ingredient: str
    strength_mg: Decimal | None = None


def normalise_key(text: str) -> str:
    """How drug keys are compared: lower case, trimmed, hyphens removed (NDC 5-4-2 and 11)."""
    return text.strip().lower().replace("-", "")


def _ingredients(kb: Knowledge) -> dict[str, DrugKey]:
    bands = kb.assessment.level_of_care.dose_bands
    per_drug = {b.drug: b for b in bands.per_drug}
    out: dict[str, DrugKey] = {}
    for entry in kb.benzodiazepines.values():
        de_per_mg = diazepam_equivalent(entry, Decimal(1))
        low: Decimal | None = None
        moderate: Decimal | None = None
        if entry.id in per_drug:
            low, moderate = per_drug[entry.id].low_max_mg, per_drug[entry.id].moderate_max_mg
        elif de_per_mg is not None:
            low = bands.diazepam_equivalent.low_max_mg / de_per_mg
            moderate = bands.diazepam_equivalent.moderate_max_mg / de_per_mg
        out[entry.id] = DrugKey(
            entry.id,
            entry.id,
            BENZODIAZEPINE,
            _float(de_per_mg),
            _float(low),
            _float(moderate),
        )
    for cls in kb.depressant_classes.values():
        for ing in cls.ingredients:
            out[ing.id] = DrugKey(ing.id, ing.id, cls.id, None, None, None)
    return out


def ingredient_codes(kb: KnowledgeBase) -> dict[str, int]:
    """Every ingredient of the knowledge base as the small integer the screened fills carry."""
    names = {e.id for e in kb.benzodiazepines.values()}
    names |= {i.id for c in kb.depressant_classes.values() for i in c.ingredients}
    return {name: i for i, name in enumerate(sorted(names), start=1)}


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _class_table_keys(kb: KnowledgeBase) -> dict[str, str]:
    """Every name, brand and RxNorm ingredient code of the knowledge's ingredients."""
    out: dict[str, str] = {}
    for entry in kb.benzodiazepines.values():
        for name in (entry.id, *entry.names, *entry.brands):
            out[name] = entry.id
        if entry.rxnorm_ingredient:
            out[entry.rxnorm_ingredient] = entry.id
    for mono in kb.monographs.values():
        for product in mono.products:
            out[product.rxnorm] = mono.id
    for cls in kb.depressant_classes.values():
        for ing in cls.ingredients:
            for name in (ing.id, *ing.names):
                out[name] = ing.id
            if ing.rxnorm_ingredient:
                out[ing.rxnorm_ingredient] = ing.id
    return out


def resolve_value(kb: KnowledgeBase, value: str) -> tuple[Classified, Decimal | None] | None:
    """What one drug value of the records is for screening: the ingredient that decides
    (a benzodiazepine, then an opioid ...) and its strength; None when it names nothing
    the measures count (also a malformed NDC: the row is counted as an unknown drug)."""
    try:
        resolution = resolve(kb.products, value, "drug")
    except InvalidInput:
        return None
    if isinstance(resolution, Ambiguous):  # counted when every candidate is the same drug
        deciding = {primary(classify_ingredients(kb, c.ingredients)) for c in resolution.candidates}
        one = deciding.pop() if len(deciding) == 1 else None
        return (one, None) if one is not None else None
    found = primary(classified(kb, resolution))
    if found is None:
        return None
    # Per unit, or per mL of a liquid (a fill's quantity of a liquid is in mL).
    return found, shared_strength(resolution, found.ingredient_id, ("mg", "mg/mL"))


def drug_keys(
    kb: Knowledge, products: Sequence[ProductCode] = (), values: Sequence[str] = ()
) -> list[DrugKey]:
    """Every key a record's drug may match: the class table's names, brands and codes, the
    user's product codes, and ``values`` (the distinct drug values of the records), each
    resolved once. A value whose spelling is another's (they compare alike) is resolved
    once; the user's codes and the class table win over a resolution."""
    by_ingredient = _ingredients(kb)
    keys: dict[str, DrugKey] = {}

    def add(key: str, base: DrugKey, strength: Decimal | None = None) -> None:
        norm = normalise_key(key)
        if not norm:
            return
        row = DrugKey(
            norm,
            base.ingredient,
            base.drug_class,
            base.de_per_mg,
            base.low_max_mg,
            base.moderate_max_mg,
            _float(strength),
        )
        old = keys.get(norm)
        if old is not None and old.ingredient != row.ingredient:
            raise InvalidInput(
                "drug map", f"{key!r} maps to both {old.ingredient} and {row.ingredient}"
            )
        keys[norm] = row

    for name, ingredient in _class_table_keys(kb).items():
        add(name, by_ingredient[ingredient])
    for product in products:
        if product.ingredient not in by_ingredient:
            raise InvalidInput(
                "drug map ingredient",
                f"{product.ingredient!r} (code {product.code}) is not in the knowledge base",
                sorted(by_ingredient),
            )
        add(product.code, by_ingredient[product.ingredient], product.strength_mg)
    for value in values:
        norm = normalise_key(value)
        if not norm or norm in keys:
            continue
        found = resolve_value(kb, value)
        if found is not None and found[0].ingredient_id in by_ingredient:
            add(value, by_ingredient[found[0].ingredient_id], found[1])
    return sorted(keys.values(), key=lambda k: k.drug_key)


def read_product_map(path: Path) -> list[ProductCode]:
    """Read a mapping CSV with a header ``code,ingredient[,strength_mg]``."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames or []
            if "code" not in header or "ingredient" not in header:
                raise InvalidInput("drug map", f"{path}: needs a header row", MAP_COLUMNS)
            out = []
            for line, row in enumerate(reader, start=2):
                strength = (row.get("strength_mg") or "").strip()
                try:
                    mg = Decimal(strength) if strength else None
                except InvalidOperation:
                    raise InvalidInput(
                        "drug map strength_mg", f"{path}:{line}: {strength!r} is not a number"
                    ) from None
                out.append(ProductCode(row["code"].strip(), row["ingredient"].strip().lower(), mg))
            return out
    except OSError as exc:
        raise InvalidInput("drug map", f"cannot read {path}: {exc.strerror}") from None


def write_product_map(codes: list[ProductCode], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(MAP_COLUMNS)
        for c in codes:
            writer.writerow([c.code, c.ingredient, "" if c.strength_mg is None else c.strength_mg])


@dataclass(frozen=True)
class WorkbookImport:
    codes: list[ProductCode]
    skipped: dict[str, int]  # reason -> rows


CDC_SHEETS = ("Opioids", "Benzos", "Muscle Relaxants", "Misc Zolpidem")


def import_cdc_workbook(path: Path, kb: KnowledgeBase) -> WorkbookImport:
    """Product codes from the CDC NDC/MME workbook (sheets with NDC, Drug, strength, UOM).

    A row is kept when its ``Drug`` names an ingredient of the knowledge base; its strength
    is kept only when the unit is mg or mcg per unit (converted to mg). Skipped rows are
    counted by reason.
    """
    import openpyxl

    known = {n.lower(): e.id for e in kb.benzodiazepines.values() for n in e.names}
    known |= {
        n.lower(): i.id
        for c in kb.depressant_classes.values()
        for i in c.ingredients
        for n in i.names
    }
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInput("workbook", f"cannot read {path} as an .xlsx workbook: {exc}") from None
    codes: list[ProductCode] = []
    skipped: dict[str, int] = {}
    try:
        sheets = [s for s in CDC_SHEETS if s in book.sheetnames]
        if not sheets:
            raise InvalidInput("workbook", f"{path}: no CDC sheet found", CDC_SHEETS)
        for name in sheets:
            rows = book[name].iter_rows(values_only=True)
            header = [str(h) for h in next(rows)]
            for needed in ("NDC", "Drug", "Strength_Per_Unit", "UOM"):
                if needed not in header:
                    raise InvalidInput("workbook", f"sheet {name!r} has no column {needed!r}")
            col = {h: i for i, h in enumerate(header)}
            for row in rows:
                ndc, drug = row[col["NDC"]], row[col["Drug"]]
                if ndc is None or drug is None:
                    skipped["empty row"] = skipped.get("empty row", 0) + 1
                    continue
                name = str(drug).strip().lower()
                # "Hydrocodone SA", "Morphine LA": the workbook appends the release type.
                ingredient = known.get(name) or known.get(name.split(" ")[0])
                if ingredient is None:
                    skipped["ingredient not in knowledge base"] = (
                        skipped.get("ingredient not in knowledge base", 0) + 1
                    )
                    continue
                strength = None
                unit = str(row[col["UOM"]]).strip().lower()
                if unit in ("mg", "mcg") and row[col["Strength_Per_Unit"]]:
                    strength = parse_mass(f"{row[col['Strength_Per_Unit']]} {unit}", "strength")
                codes.append(ProductCode(str(ndc).strip(), ingredient, strength))
    finally:
        book.close()
    return WorkbookImport(codes, skipped)
