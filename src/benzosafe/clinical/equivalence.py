"""Diazepam equivalents: one conversion for the whole package.

The class table gives, per drug, the dose taken as equal to 10 mg oral diazepam
(``equivalence.used_mg``, the Ashton column by project decision, with the other tables
kept beside it). Every converter in benzosafe goes through here, and every output that
converts names the table used.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benzosafe.knowledge.models import BenzodiazepineEntry

# The tables are defined per 10 mg of oral diazepam (Joint guideline Table 7).
DIAZEPAM_REFERENCE_MG = Decimal(10)


def diazepam_equivalent(entry: BenzodiazepineEntry, mg: Decimal) -> Decimal | None:
    """Diazepam-equivalent mg of ``mg`` of this drug, or None when no equivalent is on record."""
    used = entry.equivalence.used_mg
    return mg * DIAZEPAM_REFERENCE_MG / used if used else None


def table_used(entry: BenzodiazepineEntry) -> str:
    """The name of the table whose value is used ("ashton", ...), or "none"."""
    eq = entry.equivalence
    if eq.used_mg is None:
        return "none"
    names = [t.table for t in eq.tables if t.low_mg == eq.used_mg == t.high_mg]
    return names[0] if names else "class table"
