"""Typed, strict models of the clinical knowledge data.

Every data file under ``knowledge/data`` is validated into these models at
first use. Unknown keys are errors, every rule and fact carries at least one
citation to an entry of ``sources.toml``, and the cross-checks in
:func:`benzosafe.knowledge.loader.validate` make a broken file fail the test
suite rather than reach a patient.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from benzosafe.knowledge.values import Severity

if TYPE_CHECKING:
    from benzosafe.knowledge.products import ProductIndex

Status = Literal["V", "S", "U"]


class Strict(BaseModel):
    # defer_build: a model's validator is built when it first validates, so a process that
    # takes its knowledge from the cache (knowledge/cache.py) never builds one
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Source(Strict):
    """A document we cite."""

    id: str
    title: str
    publisher: str
    edition: str
    url: str
    status: Status = Field(description="V read in primary, S secondary only, U unverified")
    section: str = ""


class Citation(Strict):
    """A pointer into a source: which document and which part of it."""

    ref: str
    section: str = ""


Cited = list[Citation]


class CitedText(Strict):
    text: str
    sources: Cited = Field(min_length=1)


class ConceptCode(Strict):
    """A code that means an indication or a condition, with its source. An ICD-10-CM code
    covers its subcodes (G40 is every epilepsy code); a SNOMED CT code is matched exactly."""

    system: Literal["snomed", "icd-10-cm"]
    code: str = Field(pattern=r"^[0-9]+$|^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")
    display: str
    sources: Cited = Field(min_length=1)


class IndicationDef(Strict):
    """A documented indication id accepted on input, with the codes that mean it."""

    id: str
    name: str
    codes: list[ConceptCode] = Field(default_factory=list)


class Indication(Strict):
    """An indication of one drug: labelled or off-label, with its sources."""

    id: str
    labelled: bool
    detail: str = ""
    sources: Cited = Field(min_length=1)


class Product(Strict):
    form: Literal["tablet", "odt", "oral-solution"]
    strength_mg: Decimal
    per_ml: bool = False
    scored: bool = False
    rxnorm: str
    name: str
    us_marketed: bool = True
    sources: Cited = Field(min_length=1)


class HalfLife(Strict):
    low_h: Decimal
    high_h: Decimal
    note: str = ""
    sources: Cited = Field(min_length=1)


class AdverseReaction(Strict):
    name: str
    frequency: str
    group: Literal["common", "less-common", "serious"]
    context: str
    sources: Cited = Field(min_length=1)


class Warning(Strict):
    id: str
    title: str
    text: str
    since: str = ""
    sources: Cited = Field(min_length=1)


class Schedule(Strict):
    dea_schedule: Literal["II", "III", "IV", "V"]
    dea_code: str = ""
    sources: Cited = Field(min_length=1)


class Equivalent(Strict):
    """Dose of this drug taken as equivalent to 10 mg oral diazepam, by one table."""

    table: str
    low_mg: Decimal
    high_mg: Decimal
    sources: Cited = Field(min_length=1)


class Equivalence(Strict):
    used_mg: Decimal | None = None
    choice: str
    tables: list[Equivalent] = Field(default_factory=list)


class BenzodiazepineEntry(Strict):
    """A member of the class table."""

    id: str
    names: list[str] = Field(min_length=1)
    brands: list[str] = Field(default_factory=list)
    brand_sources: Cited = Field(default_factory=list)
    rxnorm_ingredient: str = ""
    rxnorm_sources: Cited = Field(default_factory=list)
    schedule: Schedule
    duration_of_action: Literal["short", "intermediate", "long"] | None = None
    half_lives: list[HalfLife] = Field(default_factory=list)
    equivalence: Equivalence


class SourceDifference(Strict):
    """Where the project's source page (the seed) says something the label does not."""

    claim: str
    label: str
    verdict: str
    sources: Cited = Field(min_length=1)


class Monograph(Strict):
    """The full cited monograph of one drug (clonazepam first)."""

    id: str
    knowledge_class: str = Field(alias="class")
    mechanism: CitedText
    indications: list[Indication] = Field(min_length=1)
    products: list[Product] = Field(min_length=1)
    adverse_reactions: list[AdverseReaction] = Field(min_length=1)
    boxed_warnings: list[Warning] = Field(min_length=1)
    precautions: list[Warning] = Field(min_length=1)
    interactions: list[Warning] = Field(default_factory=list)
    discontinuation: list[CitedText] = Field(min_length=1)
    pharmacokinetics: list[CitedText] = Field(default_factory=list)
    source_differences: list[SourceDifference] = Field(default_factory=list)
    illicit_market: list[CitedText] = Field(default_factory=list)


class Ingredient(Strict):
    """A non-benzodiazepine ingredient that matters alongside a benzodiazepine."""

    id: str
    names: list[str] = Field(min_length=1)
    rxnorm_ingredient: str = ""
    rxnorm_sources: Cited = Field(default_factory=list)
    mme_factor: Decimal | None = None
    mme_unit: Literal["mg", "mcg/h"] = "mg"
    mme_note: str = ""


class DepressantClass(Strict):
    id: str
    name: str
    finding: Literal["concurrent-opioid", "concurrent-cns-depressant"]
    sources: Cited = Field(min_length=1)
    ingredients: list[Ingredient] = Field(min_length=1)


class Condition(Strict):
    """A documented patient condition that a rule can look for, with its synonyms on input
    and the codes (SNOMED CT, ICD-10-CM) that mean it in an EHR's Condition."""

    id: str
    name: str
    synonyms: list[str] = Field(default_factory=list)
    codes: list[ConceptCode] = Field(default_factory=list)


class RuleCase(Strict):
    """An example input and whether the rule fires on it."""

    name: str
    fires: bool
    order: dict[str, Any]
    patient: dict[str, Any]


RuleKind = Literal[
    "max-daily-dose",
    "initial-daily-dose",
    "titration",
    "paediatric-weight",
    "older-adult",
    "concurrent-class",
    "duplicate-class",
    "condition",
    "long-term",
    "refill-count",
    "refill-window",
    "unknown-drug",
    "dose-coverage",
    "maintenance-range",
    "highest-maximum",
    "not-established",
    "oud-treatment",
    "unknown-co-medication",
]
# "non-adult": under the adult age (populations.toml); "paediatric": the label's children.
Population = Literal["any", "adult", "non-adult", "older-adult", "non-paediatric", "paediatric"]


class RuleIdentity(Strict):
    """What every rule carries, whatever it checks: a stable id, a version, its sources."""

    id: str = Field(pattern=r"^[A-Z0-9]+(-[A-Z0-9]+)+$")
    version: int = Field(ge=1)
    sources: Cited = Field(min_length=1)


class RuleHeader(RuleIdentity):
    """A rule that reports a finding: its code, severity, what it checks and its numbers."""

    code: str
    severity: Severity
    title: str
    checks: str
    params: dict[str, Any] = Field(default_factory=dict)


class Rule(RuleHeader):
    """A prescription-check rule, with orders and patients on which it fires or stays silent."""

    kind: RuleKind
    drug: str = ""
    indications: list[str] = Field(default_factory=list)
    population: Population = "any"
    cases: list[RuleCase] = Field(min_length=2)


class PaediatricDefinition(Strict):
    max_age_years: Decimal
    max_weight_kg: Decimal
    combine: Literal["or", "and"]
    sources: Cited = Field(min_length=1)


class AgeThreshold(Strict):
    min_age_years: Decimal
    sources: Cited = Field(min_length=1)


class Populations(Strict):
    paediatric: PaediatricDefinition
    older_adult: AgeThreshold
    adult: AgeThreshold


class KnowledgeBase(Strict):
    """Everything loaded, keyed for look-up."""

    version: str
    sources: dict[str, Source]
    monographs: dict[str, Monograph]
    benzodiazepines: dict[str, BenzodiazepineEntry]
    depressant_classes: dict[str, DepressantClass]
    conditions: dict[str, Condition]
    indications: dict[str, IndicationDef]
    rules: dict[str, Rule]
    populations: Populations
    # The data folder the product index is read from (None: the packaged one), and the index
    # once read. Private, so copies (model_copy) share them.
    _products_root: Any = PrivateAttr(default=None)
    _products: Any = PrivateAttr(default=None)

    def __hash__(self) -> int:
        # Identity: a loaded knowledge base is immutable, and look-up indexes are cached per
        # instance (functools.cache) without hashing every rule.
        return id(self)

    @property
    def products(self) -> ProductIndex:
        """The product index of this knowledge (``products/products.json``), read at its
        first use: a command that resolves no medication name never pays for reading it."""
        # Read through the private dict: pydantic's attribute hook costs microseconds, and the
        # check asks for the index once per co-medication.
        private: dict[str, Any] = self.__pydantic_private__  # type: ignore[assignment]
        index: ProductIndex | None = private["_products"]
        if index is None:
            from benzosafe.knowledge.products import load_products_below

            index = load_products_below(private["_products_root"])
            private["_products"] = index
        return index

    def with_products(self, index: ProductIndex) -> KnowledgeBase:
        """A copy of this knowledge with another product index (tests, a site's own index)."""
        copy = self.model_copy()
        copy._products = index
        return copy
