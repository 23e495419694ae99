"""The monograph of a benzodiazepine assembled from the data: class-table facts, the cited
monograph where one exists (clonazepam first), and the rules that state its dose limits,
contraindications and cautions, where the project's source page (the seed) differs from the
label, and its presence on the illicit market. One dict, used by the CLI, the web page and the
JSON API.
"""

from __future__ import annotations

from typing import Any

from benzosafe.knowledge.bundle import protocol_fields, protocol_of
from benzosafe.knowledge.models import BenzodiazepineEntry, Citation, KnowledgeBase, Rule

_DOSE_KINDS = ("initial-daily-dose", "titration", "max-daily-dose")


def _cites(cites: list[Citation]) -> list[dict[str, str]]:
    return [{"ref": c.ref, "section": c.section} for c in cites]


def _rule_summary(rule: Rule) -> dict[str, Any]:
    return {
        "rule": rule.id,
        "version": rule.version,
        "title": rule.title,
        "text": rule.checks,
        "indications": rule.indications,
        "population": rule.population,
        "params": {k: v for k, v in rule.params.items()},
        "sources": _cites(rule.sources),
    }


def monograph(kb: KnowledgeBase, entry: BenzodiazepineEntry) -> dict[str, Any]:
    """Everything benzosafe knows about one benzodiazepine, with citations."""
    eq = entry.equivalence
    out: dict[str, Any] = {
        "id": entry.id,
        "names": entry.names,
        "brands": entry.brands,
        "class": "benzodiazepine",
        "rxnorm_ingredient": entry.rxnorm_ingredient or None,
        "schedule": {
            "dea_schedule": entry.schedule.dea_schedule,
            "dea_code": entry.schedule.dea_code or None,
            "sources": _cites(entry.schedule.sources),
        },
        "half_lives": [
            {
                "low_h": float(h.low_h),
                "high_h": float(h.high_h),
                "note": h.note,
                "sources": _cites(h.sources),
            }
            for h in entry.half_lives
        ],
        "diazepam_equivalent": {
            "mg_equal_to_10_mg_diazepam": float(eq.used_mg) if eq.used_mg is not None else None,
            "choice": eq.choice,
            "tables": [
                {
                    "table": t.table,
                    "low_mg": float(t.low_mg),
                    "high_mg": float(t.high_mg),
                    "sources": _cites(t.sources),
                }
                for t in eq.tables
            ],
        },
        "knowledge_version": kb.version,
        **protocol_fields(protocol_of(kb)),
    }
    rules = [r for r in kb.rules.values() if r.drug == entry.id]
    out["dosing"] = [_rule_summary(r) for r in rules if r.kind in _DOSE_KINDS]
    out["contraindications"] = [_rule_summary(r) for r in rules if r.code == "contraindicated"]
    out["cautions"] = [_rule_summary(r) for r in rules if r.code == "caution-condition"]
    mono = kb.monographs.get(entry.id)
    if mono is None:
        return out
    out["mechanism"] = {"text": mono.mechanism.text, "sources": _cites(mono.mechanism.sources)}
    out["indications"] = [
        {
            "id": i.id,
            "name": kb.indications[i.id].name,
            "labelled": i.labelled,
            "detail": i.detail,
            "sources": _cites(i.sources),
        }
        for i in mono.indications
    ]
    out["products"] = [
        {
            "form": p.form,
            "strength_mg": float(p.strength_mg),
            "per_ml": p.per_ml,
            "scored": p.scored,
            "rxnorm": p.rxnorm,
            "name": p.name,
            "us_marketed": p.us_marketed,
            "sources": _cites(p.sources),
        }
        for p in mono.products
    ]
    out["adverse_reactions"] = [
        {
            "name": a.name,
            "frequency": a.frequency,
            "group": a.group,
            "context": a.context,
            "sources": _cites(a.sources),
        }
        for a in mono.adverse_reactions
    ]
    for key, items in (
        ("boxed_warnings", mono.boxed_warnings),
        ("precautions", mono.precautions),
        ("interactions", mono.interactions),
    ):
        out[key] = [
            {
                "id": w.id,
                "title": w.title,
                "text": w.text,
                "since": w.since,
                "sources": _cites(w.sources),
            }
            for w in items
        ]
    out["discontinuation"] = [
        {"text": d.text, "sources": _cites(d.sources)} for d in mono.discontinuation
    ]
    out["pharmacokinetics"] = [
        {"text": d.text, "sources": _cites(d.sources)} for d in mono.pharmacokinetics
    ]
    out["source_differences"] = [
        {"claim": d.claim, "label": d.label, "verdict": d.verdict, "sources": _cites(d.sources)}
        for d in mono.source_differences
    ]
    out["illicit_market"] = [
        {"text": d.text, "sources": _cites(d.sources)} for d in mono.illicit_market
    ]
    return out
