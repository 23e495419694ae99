"""Recognising medications: benzodiazepines by name, brand or code, and co-medications.

Classification is at the ingredient level (generic name, brand name, RxNorm ingredient
code, or a clonazepam product code from the monograph), so that a product code missing
from a value set is still recognised. Co-medications are written as "oxycodone 10 mg qid",
"fentanyl 75 mcg/h", or a bare name ("zolpidem", "alcohol") when the dose is unknown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from benzosafe.errors import InvalidInput
from benzosafe.knowledge.models import BenzodiazepineEntry, Ingredient, KnowledgeBase
from benzosafe.units import Frequency, parse_frequency, parse_mass

BENZODIAZEPINE = "benzodiazepines"
OPIOID = "opioids"  # the class id of opioids in depressants.toml


@dataclass(frozen=True, slots=True)
class Classified:
    """What an ingredient name or code is: its class id and ingredient id."""

    class_id: str
    ingredient_id: str


@dataclass(frozen=True, slots=True)
class CoMedication:
    """A current medication as written, parsed and classified (None when unknown)."""

    text: str
    name: str
    classified: Classified | None
    dose_mg: Decimal | None = None
    rate_mcg_per_h: Decimal | None = None
    frequency: Frequency | None = None


@dataclass(frozen=True, slots=True)
class _Index:
    benzodiazepines: dict[str, str]
    everything: dict[str, Classified]
    ingredients: dict[str, Ingredient]


def _key(text: str) -> str:
    return " ".join(text.strip().lower().split())


@cache
def _index(kb: KnowledgeBase) -> _Index:
    benzos: dict[str, str] = {}
    for entry in kb.benzodiazepines.values():
        for name in (entry.id, *entry.names, *entry.brands):
            benzos[_key(name)] = entry.id
        if entry.rxnorm_ingredient:
            benzos[entry.rxnorm_ingredient] = entry.id
    for mono in kb.monographs.values():
        for product in mono.products:
            benzos[product.rxnorm] = mono.id
    everything = {k: Classified(BENZODIAZEPINE, v) for k, v in benzos.items()}
    ingredients: dict[str, Ingredient] = {}
    for cls in kb.depressant_classes.values():
        for ing in cls.ingredients:
            ingredients[ing.id] = ing
            for name in (ing.id, *ing.names):
                everything[_key(name)] = Classified(cls.id, ing.id)
            if ing.rxnorm_ingredient:
                everything[ing.rxnorm_ingredient] = Classified(cls.id, ing.id)
    return _Index(benzos, everything, ingredients)


def recognised_keys(kb: KnowledgeBase) -> dict[str, Classified]:
    """Every name, brand and code benzosafe recognises (lower case), and what it is."""
    return dict(_index(kb).everything)


def find_benzodiazepine(kb: KnowledgeBase, name_or_code: str) -> BenzodiazepineEntry | None:
    """The class-table entry for a generic name, brand name or RxNorm code, or None."""
    found = _index(kb).benzodiazepines.get(_key(name_or_code))
    return kb.benzodiazepines[found] if found else None


def classify(kb: KnowledgeBase, name_or_code: str) -> Classified | None:
    """The class (benzodiazepines, opioids, gabapentinoids, ...) of a name or code, or None."""
    return _index(kb).everything.get(_key(name_or_code))


def ingredient(kb: KnowledgeBase, ingredient_id: str) -> Ingredient | None:
    """A non-benzodiazepine ingredient (with its MME factor for opioids), or None."""
    return _index(kb).ingredients.get(ingredient_id)


_CO_MED = re.compile(
    r"^(?P<name>[^\d]+?)\s*(?:(?P<amount>\d[\d.]*\s*[a-zµ]+)(?P<per_hour>\s*/\s*(?:h|hr|hour))?"
    r"\s*(?P<freq>.*))?$",
    re.IGNORECASE,
)


def parse_co_medication(kb: KnowledgeBase, text: str, field: str) -> CoMedication:
    """Parse and classify one current medication ("oxycodone 10 mg qid", "zolpidem")."""
    match = _CO_MED.match(text.strip())
    if match is None or not match.group("name").strip():
        raise InvalidInput(
            field,
            f"{text!r} is not a medication; write a name, optionally with a dose and a "
            "frequency, e.g. 'oxycodone 10 mg qid' or 'fentanyl 75 mcg/h'",
        )
    name = match.group("name").strip()
    classified = classify(kb, name)
    amount = match.group("amount")
    if amount is None:
        return CoMedication(text, name, classified)
    if match.group("per_hour"):
        rate = parse_mass(amount, field) * 1000
        if match.group("freq").strip():
            raise InvalidInput(field, f"{text!r}: a rate per hour takes no frequency")
        return CoMedication(text, name, classified, rate_mcg_per_h=rate)
    dose = parse_mass(amount, field)
    freq_text = match.group("freq").strip()
    if not freq_text:
        raise InvalidInput(field, f"{text!r} gives a dose without a frequency, e.g. '10 mg qid'")
    return CoMedication(
        text, name, classified, dose_mg=dose, frequency=parse_frequency(freq_text, field)
    )


def mme_per_day(kb: KnowledgeBase, med: CoMedication) -> Decimal | None:
    """Morphine milligram equivalents per day (CDC 2022 factors), or None when unknown."""
    if med.classified is None:
        return None
    ing = ingredient(kb, med.classified.ingredient_id)
    if ing is None or ing.mme_factor is None:
        return None
    if ing.mme_unit == "mcg/h":
        return med.rate_mcg_per_h * ing.mme_factor if med.rate_mcg_per_h is not None else None
    if med.dose_mg is None or med.frequency is None:
        return None
    return med.dose_mg * med.frequency.times_per_day * ing.mme_factor
