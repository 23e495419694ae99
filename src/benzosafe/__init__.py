"""benzosafe: clinical decision support for the safe use of clonazepam and the benzodiazepines.

It informs a clinician and never replaces one; every output shows its rule and source.
The clinical names below are imported on first use, so that ``import benzosafe`` (and the
command line's cold start) stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from benzosafe._version import __version__
from benzosafe.errors import (
    BenzosafeError,
    InvalidInput,
    KnowledgeError,
    PlanInfeasible,
    UnitError,
    UnknownDrug,
)

if TYPE_CHECKING:
    from benzosafe.clinical.check import (
        CheckReport,
        Order,
        Patient,
        check_prescription,
        parse_order,
        parse_patient,
    )
    from benzosafe.clinical.findings import Finding, NotEvaluated
    from benzosafe.clinical.instruments import Score, score
    from benzosafe.clinical.level_of_care import (
        Intake,
        Recommendation,
        parse_intake,
        recommend_level_of_care,
    )
    from benzosafe.clinical.taper import (
        TaperPlan,
        TaperRequest,
        adjust_plan,
        parse_taper_request,
        plan_taper,
    )
    from benzosafe.clinical.triage import Triage, triage
    from benzosafe.knowledge import load as load_knowledge
    from benzosafe.population.engines import DuckDBEngine, SparkEngine
    from benzosafe.population.records import DispensingRecord
    from benzosafe.population.screen import ScreenOptions, ScreenResult, screen

_LAZY = {
    "CheckReport": ("benzosafe.clinical.check", "CheckReport"),
    "Finding": ("benzosafe.clinical.findings", "Finding"),
    "NotEvaluated": ("benzosafe.clinical.findings", "NotEvaluated"),
    "Order": ("benzosafe.clinical.check", "Order"),
    "Patient": ("benzosafe.clinical.check", "Patient"),
    "check_prescription": ("benzosafe.clinical.check", "check_prescription"),
    "parse_order": ("benzosafe.clinical.check", "parse_order"),
    "parse_patient": ("benzosafe.clinical.check", "parse_patient"),
    "load_knowledge": ("benzosafe.knowledge", "load"),
    "Intake": ("benzosafe.clinical.level_of_care", "Intake"),
    "Recommendation": ("benzosafe.clinical.level_of_care", "Recommendation"),
    "Score": ("benzosafe.clinical.instruments", "Score"),
    "Triage": ("benzosafe.clinical.triage", "Triage"),
    "parse_intake": ("benzosafe.clinical.level_of_care", "parse_intake"),
    "recommend_level_of_care": ("benzosafe.clinical.level_of_care", "recommend_level_of_care"),
    "score": ("benzosafe.clinical.instruments", "score"),
    "triage": ("benzosafe.clinical.triage", "triage"),
    "TaperPlan": ("benzosafe.clinical.taper", "TaperPlan"),
    "TaperRequest": ("benzosafe.clinical.taper", "TaperRequest"),
    "adjust_plan": ("benzosafe.clinical.taper", "adjust_plan"),
    "parse_taper_request": ("benzosafe.clinical.taper", "parse_taper_request"),
    "plan_taper": ("benzosafe.clinical.taper", "plan_taper"),
    "DispensingRecord": ("benzosafe.population.records", "DispensingRecord"),
    "DuckDBEngine": ("benzosafe.population.engines", "DuckDBEngine"),
    "ScreenOptions": ("benzosafe.population.screen", "ScreenOptions"),
    "ScreenResult": ("benzosafe.population.screen", "ScreenResult"),
    "SparkEngine": ("benzosafe.population.engines", "SparkEngine"),
    "screen": ("benzosafe.population.screen", "screen"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(import_module(module), attr)
    raise AttributeError(f"module 'benzosafe' has no attribute {name!r}")


__all__ = [
    "BenzosafeError",
    "CheckReport",
    "DispensingRecord",
    "DuckDBEngine",
    "Finding",
    "Intake",
    "InvalidInput",
    "KnowledgeError",
    "NotEvaluated",
    "Order",
    "Patient",
    "PlanInfeasible",
    "Recommendation",
    "Score",
    "ScreenOptions",
    "ScreenResult",
    "SparkEngine",
    "TaperPlan",
    "TaperRequest",
    "Triage",
    "UnitError",
    "UnknownDrug",
    "__version__",
    "adjust_plan",
    "check_prescription",
    "load_knowledge",
    "parse_intake",
    "parse_order",
    "parse_patient",
    "parse_taper_request",
    "plan_taper",
    "recommend_level_of_care",
    "score",
    "screen",
    "triage",
]
