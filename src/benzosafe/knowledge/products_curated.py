"""The curated input of the product index: ``knowledge/data/products/aliases.toml``, validated.

Abbreviations (APAP), names written for a product ("Tylenol #3"), products the CDC files
leave out (promethazine with codeine) and facts about ingredients (buprenorphine and methadone
treat opioid use disorder). Every entry cites ``sources.toml``, the one place for sources.
Strict models: an unknown key or an entry without a source fails the build, not a patient.
"""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

from benzosafe.errors import KnowledgeError
from benzosafe.knowledge.models import Cited, Strict
from benzosafe.knowledge.products import Alias, Unit
from benzosafe.knowledge.products_read import strength


class Descriptors(Strict):
    words: tuple[str, ...] = Field(min_length=1)
    sources: Cited = Field(min_length=1)


class Abbreviation(Strict):
    short: str = Field(pattern=r"^[a-z0-9.]+$")
    means: str
    sources: Cited = Field(min_length=1)


class CuratedIngredient(Strict):
    name: str
    strength: Decimal
    unit: str

    def parsed(self) -> tuple[Decimal, Unit]:
        """The strength in the index's unit; "10 mg/5 mL" is 2 mg/mL."""
        value, unit = self.strength, self.unit
        per_volume = re.fullmatch(r"(mg|mcg)/(\d+(?:\.\d+)?) ?mL", unit)
        if per_volume:
            value, unit = value / Decimal(per_volume[2]), f"{per_volume[1]}/mL"
        found = strength(value, unit)
        if found is None:
            raise KnowledgeError(f"aliases.toml: unit {self.unit!r} of {self.name} not read")
        return found


class CuratedProduct(Strict):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    name: str
    generic: str
    form: str
    dea_schedule: Literal["II", "III", "IV", "V"] | None = None
    ingredients: tuple[CuratedIngredient, ...] = Field(min_length=1)
    sources: Cited = Field(min_length=1)


class IngredientFact(Strict):
    id: str
    opioid_use_disorder_treatment: bool = False
    mme_note: str = ""
    sources: Cited = Field(min_length=1)


class AliasesFile(Strict):
    descriptors: Descriptors
    abbreviation: tuple[Abbreviation, ...] = ()
    name: tuple[Alias, ...] = ()
    product: tuple[CuratedProduct, ...] = ()
    ingredient: tuple[IngredientFact, ...] = ()


class Curated:
    """The curated file, shaped for the builder."""

    def __init__(self, data: AliasesFile) -> None:
        self.descriptors = data.descriptors.words
        self.descriptor_sources = data.descriptors.sources
        self.abbreviations = {a.short: a.means for a in data.abbreviation}
        self.abbreviations_cited = tuple(
            Alias(text=a.short, means=a.means, sources=a.sources) for a in data.abbreviation
        )
        self.names = data.name
        self.products = data.product
        self.ingredients = data.ingredient


def read_curated(path: Path) -> Curated:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return Curated(AliasesFile.model_validate(raw))
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise KnowledgeError(f"{path.name}: {exc}") from exc
