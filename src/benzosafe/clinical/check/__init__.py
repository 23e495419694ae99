"""The prescription check: is this benzodiazepine order safe for this patient?

``model`` holds the values (:class:`Order`, :class:`Patient`, :class:`CheckReport`),
``parsing`` turns the public JSON shape into them, and ``rules`` runs every applicable rule
(:func:`check_prescription`; :func:`check_raw` parses and checks in one call). Findings and
not-evaluated rules are the shared vocabulary of :mod:`benzosafe.clinical.findings`.
"""

from benzosafe.clinical.check.context import paediatric_status
from benzosafe.clinical.check.model import (
    FINDING_CODES,
    NOT_EVALUATED_KINDS,
    CheckReport,
    Order,
    Patient,
)
from benzosafe.clinical.check.parsing import (
    coded_condition,
    coded_indication,
    parse_order,
    parse_patient,
    resolve_condition,
)
from benzosafe.clinical.check.rules import check_prescription, check_raw

__all__ = [
    "FINDING_CODES",
    "NOT_EVALUATED_KINDS",
    "CheckReport",
    "Order",
    "Patient",
    "check_prescription",
    "check_raw",
    "coded_condition",
    "coded_indication",
    "paediatric_status",
    "parse_order",
    "parse_patient",
    "resolve_condition",
]
