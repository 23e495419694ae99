"""Build the product index from the CDC workbook and value sets: ``python -m`` this module.

Reads ``cdc-mme/CDC_Oral_Morphine_Milligram_Equivalents_Sept_2018.xlsx`` (NDCs of opioids,
benzodiazepines, muscle relaxants, stimulants and zolpidem), the CDC value sets
``cdc-opioid-cds/valueset-*.json`` (RxNorm codes), the CDC 2022 clinical MME factors
(``cdc-mme/codesystem-CDCMMEClinicalConversionFactors.json``), the curated
``knowledge/data/products/aliases.toml`` and the ingredient classes of the knowledge base,
and writes ``knowledge/data/products/products.json``: one product per line, sorted, with its
provenance (files, digests, dates, rows read, kept and dropped with the reason). The same
inputs give the same bytes. The vectors are third-party material and are never committed;
this derived file is the project's own.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl

from benzosafe.errors import KnowledgeError
from benzosafe.knowledge.bundle import load
from benzosafe.knowledge.models import Citation, Source
from benzosafe.knowledge.products import (
    FORMAT,
    Alias,
    Header,
    Ingredient,
    Origin,
    Product,
    ProductIngredient,
    Provenance,
    SourceFile,
    load_products_from,
    product_row,
)
from benzosafe.knowledge.products_curated import Curated, read_curated
from benzosafe.knowledge.products_mme import Factor, read_factors, sha256, with_mme_and_classes
from benzosafe.knowledge.products_read import (
    extended_release,
    form_group,
    number,
    parse_display,
    strength,
)
from benzosafe.knowledge.products_spelling import Spelling, name_key, split_ingredients

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "products"
DEFAULT_OUT = DATA / "products.json"
DEFAULT_VECTORS = HERE.parents[2] / ".." / "shared" / "vectors"
WORKBOOK = "cdc-mme/CDC_Oral_Morphine_Milligram_Equivalents_Sept_2018.xlsx"
CODESYSTEM = "cdc-mme/codesystem-CDCMMEClinicalConversionFactors.json"
VALUE_SETS = {
    "cdc-opioid-cds/valueset-benzodiazepine-medications.json": "benzodiazepines",
    "cdc-opioid-cds/valueset-opioid-analgesics-with-ambulatory-misuse-potential.json": "opioids",
}
# Workbook sheet -> the knowledge base's class id of the sheet's Drug column.
SHEETS = {
    "Opioids": "opioids",
    "Benzos": "benzodiazepines",
    "Muscle Relaxants": "muscle-relaxants",
    "Stimulants": "stimulants",
    "Misc Zolpidem": "z-drugs",
}
COLUMNS = (
    "NDC", "NDC_Numeric", "PRODNME", "GENNME", "Master_Form", "Class", "Drug",
    "LongShortActing", "DEAClassCode", "Strength_Per_Unit", "UOM",
)  # fmt: skip
SCHEDULES = {"2": "II", "3": "III", "4": "IV", "5": "V"}


@dataclass
class Tally:
    """Rows read from one input, and what became of them."""

    read: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    notes: Counter[str] = field(default_factory=Counter)

    remarks: list[str] = field(default_factory=list)

    def note_lines(self) -> tuple[str, ...]:
        counted = (f"{text}: {n}" for text, n in sorted(self.notes.items()))
        return (*counted, *self.remarks)


class Registry:
    """Ingredients met while reading: id by spelling, the spellings, classes and codes."""

    def __init__(self, spelling: Spelling) -> None:
        self.spelling = spelling
        self.by_key: dict[str, str] = {}
        self.names: defaultdict[str, set[str]] = defaultdict(set)
        self.classes: defaultdict[str, set[str]] = defaultdict(set)
        self.rxnorm: dict[str, str] = {}

    def known(self, name: str) -> str | None:
        return self.by_key.get(self.spelling.ingredient_key(name))

    def add(self, name: str, ingredient_id: str | None = None) -> str:
        """The id of an ingredient name, registering it (under ``ingredient_id``) if new."""
        key = self.spelling.ingredient_key(name)
        found = self.by_key.get(key) or ingredient_id or key
        self.by_key.setdefault(key, found)
        self.names[found].add(key)
        return found


def build(vectors: Path) -> tuple[Header, list[Product]]:
    """Read every input below ``vectors`` (and the packaged curated data) into the index."""
    kb = load()
    aliases = DATA / "aliases.toml"
    curated = read_curated(aliases)
    registry = Registry(Spelling(curated.abbreviations, curated.descriptors))
    _register_knowledge(registry)
    products, workbook = _read_workbook(vectors / WORKBOOK, registry)
    files = [workbook]
    for name, cls in VALUE_SETS.items():
        found, value_set = _read_value_set(vectors / name, name, cls, registry)
        products += found
        files.append(value_set)
    factors, codes, codesystem = read_factors(vectors / CODESYSTEM, CODESYSTEM, registry.add, kb)
    files += [codesystem, _curated_file(aliases, curated)]
    for ing_id, code in codes.items():
        registry.rxnorm.setdefault(ing_id, code)
    products += _curated_products(curated, registry)
    ingredients = _ingredients(registry, factors, curated)
    products = sorted((with_mme_and_classes(p, ingredients) for p in products), key=lambda p: p.id)
    names = [*curated.names, *_knowledge_brands(products)]
    origins = _origins(curated)
    cited = {c.ref for c in curated.descriptor_sources}
    cited |= {c.ref for a in (*curated.abbreviations_cited, *names) for c in a.sources}
    cited |= {c.ref for i in ingredients.values() for c in i.sources}
    cited |= {c.ref for p in products for c in p.sources}
    cited |= {c.ref for o in origins.values() for c in o.sources}
    sources = _sources(cited, kb.sources)
    header = Header(
        format=FORMAT,
        provenance=Provenance(
            built_by="python -m benzosafe.knowledge.products_build",
            sources=tuple(files),
            products=len(products),
            ndcs=sum(len(p.ndc) for p in products),
            rxnorm_codes=sum(len(p.rxnorm) for p in products),
        ),
        sources=dict(sorted(sources.items())),
        origins=origins,
        descriptors=tuple(sorted(curated.descriptors)),
        descriptor_sources=curated.descriptor_sources,
        abbreviations=tuple(sorted(curated.abbreviations_cited, key=lambda a: a.text)),
        names=tuple(sorted(names, key=lambda a: a.text)),
        ingredients=tuple(ingredients[i] for i in sorted(ingredients)),
    )
    return header, products


def _register_knowledge(registry: Registry) -> None:
    """The knowledge base's ingredients first, so that its ids and classes are the index's."""
    kb = load()
    for entry in kb.benzodiazepines.values():
        for name in (entry.id, *entry.names):
            registry.add(name, entry.id)
        registry.classes[entry.id].add("benzodiazepines")
        if entry.rxnorm_ingredient:
            registry.rxnorm[entry.id] = entry.rxnorm_ingredient
    for extra in kb.cds.ingredients:
        for name in (extra.id, *extra.names):
            registry.add(name, extra.id)
        registry.classes[extra.id].add(extra.knowledge_class)
    for cls in kb.depressant_classes.values():
        for ing in cls.ingredients:
            for name in (ing.id, *ing.names):
                registry.add(name, ing.id)
            registry.classes[ing.id].add(cls.id)
            if ing.rxnorm_ingredient:
                registry.rxnorm[ing.id] = ing.rxnorm_ingredient


def _read_workbook(path: Path, registry: Registry) -> tuple[list[Product], SourceFile]:
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    tally = Tally(dropped=Counter(dict.fromkeys(ROW_PROBLEMS, 0)))
    groups: dict[tuple[Any, ...], list[str]] = {}
    seen: set[str] = set()
    for sheet, cls in SHEETS.items():
        rows = book[sheet].iter_rows(values_only=True)
        header = next(rows)
        if tuple(header[: len(COLUMNS)]) != COLUMNS:
            raise KnowledgeError(f"{path.name} sheet {sheet}: unexpected columns {header}")
        for row in rows:
            tally.read += 1
            reason = _row_problem(row, seen)
            if reason:
                tally.dropped[reason] += 1
                continue
            ndc = str(row[0])
            seen.add(ndc)
            key = (sheet, cls, *row[2:11], row[11] if len(row) > 11 else None)
            groups.setdefault(key, []).append(ndc)
            tally.kept += 1
    products = [_workbook_product(key, ndcs, registry, tally) for key, ndcs in groups.items()]
    tally.notes["products made of the kept rows (same name, form, drug and strength)"] = len(
        products
    )
    tally.remarks += [
        "sheet Documentation read for the title and dates only",
        "sheet Summary Table not read: its 2018 factors are on every opioid row as well",
    ]
    props = book.properties
    documentation = [str(r[0]) for r in book["Documentation"].iter_rows(values_only=True) if r[0]]
    book.close()
    created = _found(r"created by .*?, (\w+ \d{4})", documentation)
    updated = _found(r"NDCs are updated to (\w+ \d{4})", documentation)
    return products, SourceFile(
        file=WORKBOOK,
        sha256=sha256(path),
        title=documentation[0].strip(),
        date=f"file created {props.created:%Y-%m-%d}, modified {props.modified:%Y-%m-%d}"
        if props.created and props.modified
        else "",
        version=f"created {created}; NDCs updated to {updated} (Documentation sheet)",
        read=tally.read,
        kept=tally.kept,
        dropped=dict(sorted(tally.dropped.items())),
        notes=tally.note_lines(),
    )


def _found(pattern: str, lines: list[str]) -> str:
    for line in lines:
        match = re.search(pattern, line)
        if match:
            return match[1]
    raise KnowledgeError(f"{WORKBOOK}: Documentation sheet: no line matches {pattern!r}")


ROW_PROBLEMS = (
    "NDC is not 11 digits",
    "NDC and NDC_Numeric disagree",
    "NDC listed twice",
    "no product name, generic name or drug",
)


def _row_problem(row: tuple[Any, ...], seen: set[str]) -> str | None:
    ndc, numeric, name, generic, _form, _cls, drug = row[:7]
    if not isinstance(ndc, str) or len(ndc) != 11 or not ndc.isdigit():
        return ROW_PROBLEMS[0]
    if numeric != int(ndc):
        return ROW_PROBLEMS[1]
    if ndc in seen:
        return ROW_PROBLEMS[2]
    if not name or not generic or not drug:
        return ROW_PROBLEMS[3]
    return None


def _workbook_product(
    key: tuple[Any, ...], ndcs: list[str], registry: Registry, tally: Tally
) -> Product:
    sheet, cls, name, generic, form, _class, drug, acting, dea, value, uom, mme_2018 = key
    principal = registry.add(str(drug).removesuffix(" SA").removesuffix(" LA"))
    registry.classes[principal].add(cls)
    size = len(ndcs)
    ingredients: list[ProductIngredient] = []
    amount: tuple[Decimal, Any] | None = None
    if value is None:
        tally.notes["kept without a strength (none given)"] += size
    elif uom is None:
        tally.notes["kept without a strength (a number without a unit)"] += size
    else:
        amount = strength(number(value) or Decimal(0), str(uom))
        if amount is None:
            tally.notes[f"kept without a strength (unit {uom} not used)"] += size
    # "Diazepam;lubricant": after a semicolon come a kit's other parts, kept only when they
    # are an ingredient known elsewhere ("Cyclobenzaprine Hydrochloride;gabapentin").
    main, *kit = str(generic).replace(" W/", " with ").replace(" w/", " with ").split(";")
    for part in [*split_ingredients(main), *kit]:
        if part in kit and registry.known(part) is None:
            tally.notes[f"kit part dropped: {part.lower()}"] += size
            continue
        ing_id = registry.add(part)
        if any(i.id == ing_id for i in ingredients):
            continue  # two salts of one ingredient in a generic name with one strength
        ingredients.append(
            ProductIngredient(
                id=ing_id,
                name=part,
                strength=amount[0] if amount and ing_id == principal else None,
                unit=amount[1] if amount and ing_id == principal else None,
            )
        )
    if not any(i.id == principal for i in ingredients):
        tally.notes[f"drug {drug!r} not named in the generic name: added"] += size
        ingredients.insert(0, ProductIngredient(id=principal, name=str(drug), strength=(
            amount[0] if amount else None), unit=amount[1] if amount else None))  # fmt: skip
    named = _named_ingredients(str(name), registry)
    if named is not None and named != {i.id for i in ingredients}:
        # "ACETAMINOPHEN" for acetaminophen with codeine: found by its NDC, not this name.
        tally.notes["product name names other ingredients than the generic name"] += size
    brand = None if named is not None else str(name)
    form_text = str(form or "")
    if not form:
        tally.notes["kept without a dose form"] += size
    if str(dea) not in SCHEDULES:
        tally.notes[f"DEAClassCode {dea!r} is no DEA schedule (II-V): kept without one"] += size
    return Product(
        id=f"ndc:{min(ndcs)}",
        name=str(name),
        generic=str(generic),
        brand=brand,
        form=form_text,
        form_group=form_group(form_text),
        extended_release=extended_release(form_text),
        ingredients=tuple(ingredients),
        ndc=tuple(sorted(ndcs)),
        source=f"cdc-ndc-mme/{sheet}",
        dea_schedule=SCHEDULES.get(str(dea)),  # type: ignore[arg-type]
        acting=acting if acting in ("SA", "LA") else None,
        mme_factor_2018=number(mme_2018),
    )


def _named_ingredients(name: str, registry: Registry) -> set[str] | None:
    """The ingredients a generic product name spells ("OXYCODONE HCL"), None for a brand."""
    parts = split_ingredients(name.lower().replace(" w/", " with "))
    ids = {registry.known(p) for p in parts}
    return None if not parts or None in ids else {i for i in ids if i is not None}


def _read_value_set(
    path: Path, name: str, cls: str, registry: Registry
) -> tuple[list[Product], SourceFile]:
    data = json.loads(path.read_text(encoding="utf-8"))
    tally = Tally(dropped=Counter({"RxNorm name not of a known shape": 0}))
    parsed = []
    for concept in data["expansion"]["contains"]:
        tally.read += 1
        display = parse_display(concept["display"])
        if display is None:
            tally.dropped["RxNorm name not of a known shape"] += 1
            continue
        parsed.append((concept, display))
    # An ingredient that is a product on its own in this value set is of its class; the
    # others of a combination (acetaminophen, naloxone, caffeine ...) are not.
    for _concept, display in parsed:
        if len(display.components) == 1:
            registry.classes[registry.add(display.components[0].name)].add(cls)
    products = []
    for concept, display in parsed:
        ingredients = []
        for comp in display.components:
            amount = strength(comp.value, comp.unit)
            if amount is None:
                tally.notes[f"strength in {comp.unit} not used"] += 1
            ingredients.append(ProductIngredient(
                id=registry.add(comp.name), name=comp.name,
                strength=amount[0] if amount else None, unit=amount[1] if amount else None,
            ))  # fmt: skip
        if not display.form:
            tally.notes["RxNorm component (no dose form)"] += 1
        if display.pack:
            tally.notes["pack: read as the drug it holds"] += 1
        tally.kept += 1
        products.append(Product(
            id=f"rxnorm:{concept['code']}", name=concept["display"], generic=display.generic,
            brand=display.brand, form=display.form, form_group=form_group(display.form),
            extended_release=extended_release(display.form), ingredients=tuple(ingredients),
            rxnorm=(concept["code"],), source=f"valueset/{data['id']}",
        ))  # fmt: skip
    versions = sorted({c.get("version", "") for c in data["expansion"]["contains"]})
    return products, SourceFile(
        file=name,
        sha256=sha256(path),
        title=f"{data['title']} ({data['url']})",
        date=f"{data['date']}; expansion {data['expansion']['timestamp']}",
        version=f"RxNorm {', '.join(versions)}",
        read=tally.read,
        kept=tally.kept,
        dropped=dict(sorted(tally.dropped.items())),
        notes=tally.note_lines(),
    )


def _curated_products(curated: Curated, registry: Registry) -> list[Product]:
    out = []
    for entry in curated.products:
        ingredients = []
        for item in entry.ingredients:
            value, unit = item.parsed()
            ingredients.append(ProductIngredient(
                id=registry.add(item.name), name=item.name, strength=value, unit=unit))  # fmt: skip
        out.append(Product(
            id=f"curated:{entry.id}", name=entry.name, generic=entry.generic, brand=None,
            form=entry.form, form_group=form_group(entry.form),
            extended_release=extended_release(entry.form), ingredients=tuple(ingredients),
            source="curated",
            dea_schedule=entry.dea_schedule, sources=tuple(entry.sources),
        ))  # fmt: skip
    return out


def _ingredients(
    registry: Registry, factors: dict[str, Factor], curated: Curated
) -> dict[str, Ingredient]:
    facts = {f.id: f for f in curated.ingredients}
    out = {}
    for ing_id in registry.names:
        fact = facts.get(ing_id)
        factor = factors.get(ing_id)
        classes = tuple(sorted(registry.classes.get(ing_id, ())))
        note = fact.mme_note if fact and fact.mme_note else ""
        if not note and "opioids" in classes and factor is None:
            note = f"no CDC 2022 MME conversion factor for {ing_id}"
        out[ing_id] = Ingredient(
            id=ing_id,
            names=tuple(sorted(registry.names[ing_id])),
            classes=classes,
            rxnorm=registry.rxnorm.get(ing_id),
            mme_factor=factor.value if factor else None,
            mme_basis=factor.basis if factor else None,
            mme_note=note,
            opioid_use_disorder_treatment=bool(fact and fact.opioid_use_disorder_treatment),
            sources=fact.sources if fact else (),
        )
    for fact_id in facts:
        if fact_id not in out:
            raise KnowledgeError(f"aliases.toml: ingredient {fact_id!r} is in no product")
    return out


def _knowledge_brands(products: list[Product]) -> list[Alias]:
    """Brand names of the class table that no product of the CDC files carries."""
    carried = {name_key(p.brand) for p in products if p.brand}
    out = []
    for entry in load().benzodiazepines.values():
        for brand in entry.brands:
            if name_key(brand) not in carried:
                sources = tuple(entry.brand_sources) or (Citation(ref="RX1"),)
                out.append(Alias(text=name_key(brand), means=entry.id, sources=sources))
    return out


def _origins(curated: Curated) -> dict[str, Origin]:
    out = {
        f"cdc-ndc-mme/{sheet}": Origin(
            title=f"CDC NDC/MME workbook 2018, sheet {sheet}",
            sources=(Citation(ref="CDC-NDC-MME", section=f"sheet {sheet}"),),
        )
        for sheet in SHEETS
    }
    for name, cls in VALUE_SETS.items():
        stem = Path(name).stem.removeprefix("valueset-")
        out[f"valueset/{stem}"] = Origin(
            title=f"CDC value set {stem}",
            sources=(Citation(ref="RX1" if cls == "benzodiazepines" else "CDC4", section=name),),
        )
    cited = {(c.ref, c.section): c for p in curated.products for c in p.sources}
    out["curated"] = Origin(
        title="curated: knowledge/data/products/aliases.toml (each product cites its label)",
        sources=tuple(cited[k] for k in sorted(cited)),
    )
    return dict(sorted(out.items()))


def _sources(cited: set[str], known: dict[str, Source]) -> dict[str, Source]:
    out = {}
    for ref in sorted(cited):
        found = known.get(ref)
        if found is None:
            raise KnowledgeError(f"citation to unknown source {ref!r}")
        out[ref] = found
    return out


def _curated_file(path: Path, curated: Curated) -> SourceFile:
    count = (
        len(curated.abbreviations_cited) + len(curated.names) + len(curated.products)
        + len(curated.ingredients)
    )  # fmt: skip
    return SourceFile(
        file="knowledge/data/products/aliases.toml",
        sha256=sha256(path),
        title="benzosafe curated names, abbreviations, products and ingredient facts",
        date="",
        read=count,
        kept=count,
    )


def render(header: Header, products: list[Product]) -> str:
    """The file's text: the header indented, then one product per line (diffs stay small)."""
    head = json.dumps(header.model_dump(mode="json", exclude_defaults=True), indent=1,
                      ensure_ascii=False)  # fmt: skip
    rows = ",\n".join(
        json.dumps(product_row(p), ensure_ascii=False, separators=(",", ":")) for p in products
    )
    return head[:-2] + ',\n "products": [\n' + rows + "\n ]\n}\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benzosafe.knowledge.products_build",
        description="Build the product index from the CDC workbook and value sets.",
    )
    parser.add_argument("--vectors", type=Path, default=DEFAULT_VECTORS,
                        help="the shared vectors folder (default: ../shared/vectors)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the file to write")
    args = parser.parse_args(argv)
    if not (args.vectors / WORKBOOK).is_file():
        print(f"error: {args.vectors / WORKBOOK} not found; pass --vectors", file=sys.stderr)
        return 2
    try:
        text = render(*build(args.vectors))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        index = load_products_from(tmp)  # the file must load before it replaces the old one
        index.validate()
        tmp.replace(args.out)
    except KnowledgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    prov = index.provenance
    print(f"wrote {args.out}: {prov.products} products, {prov.ndcs} NDCs, "
          f"{prov.rxnorm_codes} RxNorm codes, {len(index.ingredients)} ingredients")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
