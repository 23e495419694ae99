"""The CDS Hooks knowledge: services, override reasons and classification-only ingredients.

``knowledge/data/cds/cds-hooks.toml`` says which finding codes each CDS Hooks service shows,
which override reasons a card offers, and which further benzodiazepine ingredients are
recognised by name (cited, but with no schedule or equivalent on record, so they are not in
the class table). :func:`load_cds_from` validates it strictly, once, and checks every citation
and finding code against the main knowledge base.
"""

from __future__ import annotations

from importlib.abc import Traversable
from typing import Literal

from pydantic import Field

from benzosafe.errors import KnowledgeError
from benzosafe.knowledge.loader import check_citations, read_toml, validated
from benzosafe.knowledge.models import Cited, KnowledgeBase, Strict

Hook = Literal["order-select", "order-sign", "patient-view"]


class CdsService(Strict):
    id: str = Field(pattern=r"^[a-z0-9-]+$")
    hook: Hook
    title: str
    description: str
    codes: list[str] = Field(min_length=1)


class OverrideReason(Strict):
    code: str
    display: str


class ExtraIngredient(Strict):
    """An ingredient recognised by name for classification only."""

    id: str
    knowledge_class: str = Field(alias="class")
    names: list[str] = Field(min_length=1)
    sources: Cited = Field(min_length=1)


class CdsKnowledge(Strict):
    version: int
    services: list[CdsService] = Field(alias="service", min_length=1)
    override_reasons: list[OverrideReason] = Field(alias="override_reason", min_length=1)
    ingredients: list[ExtraIngredient] = Field(alias="ingredient", default_factory=list)

    def __hash__(self) -> int:
        # Identity, like KnowledgeBase: loaded once, immutable; look-up indexes are cached.
        return id(self)

    def service(self, service_id: str) -> CdsService | None:
        return next((s for s in self.services if s.id == service_id), None)


def load_cds_from(root: Traversable, kb: KnowledgeBase) -> CdsKnowledge:
    """Load and cross-check the CDS Hooks data against ``kb``."""
    where = "cds/cds-hooks.toml"
    # The knowledge version (kb.version) hashes this file too, so cards state it as is.
    data = read_toml(root.joinpath("cds").joinpath("cds-hooks.toml"))
    cds = validated(CdsKnowledge, data, where)
    check_citations(cds, kb, where)
    # Finding codes belong to clinical/ (a layer below); the test suite checks them.
    problems: list[str] = []
    ids = [s.id for s in cds.services]
    if len(set(ids)) != len(ids):
        problems.append("duplicate service id")
    known = set(kb.benzodiazepines) | {
        i.id for c in kb.depressant_classes.values() for i in c.ingredients
    }
    for ing in cds.ingredients:
        if ing.knowledge_class != "benzodiazepines" and ing.knowledge_class not in (
            kb.depressant_classes
        ):
            problems.append(f"ingredient {ing.id}: unknown class {ing.knowledge_class!r}")
        if ing.id in known:
            problems.append(f"ingredient {ing.id}: already in the knowledge base")
    if problems:
        raise KnowledgeError(f"{where}: " + "; ".join(problems))
    return cds
