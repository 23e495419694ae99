"""benzosafe: clinical decision support for the safe use of clonazepam and the benzodiazepines.

It informs a clinician and never replaces one; every output shows its rule and source.
"""

from benzosafe.errors import (
    BenzosafeError,
    InvalidInput,
    KnowledgeError,
    PlanInfeasible,
    UnitError,
    UnknownDrug,
)

__version__ = "0.1.0"

__all__ = [
    "BenzosafeError",
    "InvalidInput",
    "KnowledgeError",
    "PlanInfeasible",
    "UnitError",
    "UnknownDrug",
    "__version__",
]
