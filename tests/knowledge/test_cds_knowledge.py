"""The CDS Hooks knowledge file loads strictly and only names known finding codes."""

from __future__ import annotations

from benzosafe.clinical.check import FINDING_CODES
from benzosafe.knowledge import load


def test_cds_knowledge_loads_and_names_known_codes() -> None:
    cds = load().cds
    assert {s.hook for s in cds.services} == {"order-select", "order-sign", "patient-view"}
    for service in cds.services:
        assert set(service.codes) <= set(FINDING_CODES), service.id
    assert all(r.display for r in cds.override_reasons)


def test_classification_only_ingredients_are_cited_and_new() -> None:
    kb = load()
    for ing in load().cds.ingredients:
        assert ing.sources and all(c.ref in kb.sources for c in ing.sources)
        assert ing.id not in kb.benzodiazepines
