"""The one exception tree of benzosafe.

Every error a user can cause or meet is a :class:`BenzosafeError`; faces turn it
into a message (CLI, exit 2), one JSON error shape (web API) or an
OperationOutcome (CDS Hooks). Nothing else should reach a user as a traceback.

::

    BenzosafeError
     ├── InvalidInput        bad input from a user; names the field and what is allowed
     │    ├── UnitError      a quantity without a unit, with an unknown unit, or absurd
     │    └── UnknownDrug    a drug name or code that the knowledge base does not hold
     ├── KnowledgeError      the knowledge data is broken (a bug of ours, caught by the tests)
     └── PlanInfeasible      a taper plan that cannot be made within its bounds
"""

from __future__ import annotations

from collections.abc import Iterable


class BenzosafeError(Exception):
    """Root of every error benzosafe raises on purpose."""


class InvalidInput(BenzosafeError):
    """Input that cannot be used as given. ``field`` names where, ``allowed`` what would do."""

    def __init__(self, field: str, message: str, allowed: Iterable[str] | None = None) -> None:
        self.field = field
        self.allowed: tuple[str, ...] = tuple(allowed) if allowed is not None else ()
        self.reason = message
        text = f"{field}: {message}"
        if self.allowed:
            text += f" (allowed: {', '.join(self.allowed)})"
        super().__init__(text)


class UnitError(InvalidInput):
    """A quantity that is missing its unit, has a unit we do not accept, or is absurd."""


class KnowledgeError(BenzosafeError):
    """The clinical knowledge data failed validation."""


class UnknownDrug(InvalidInput):
    """A drug that is not in the knowledge base."""


class PlanInfeasible(BenzosafeError):
    """A taper plan that cannot be built within its bounds from the forms available."""
