"""Clinical knowledge as versioned, cited data files and their strict typed loader.

:func:`load` returns the whole knowledge as one :class:`Knowledge` value; the faces load it
once and pass it to the clinical core.
"""

from benzosafe.knowledge.bundle import Knowledge, load, load_from
from benzosafe.knowledge.loader import (
    check_citations,
    data_root,
    load_base_from,
    read_toml,
    sections,
    validate,
    validated,
)
from benzosafe.knowledge.models import KnowledgeBase, Rule

__all__ = [
    "Knowledge",
    "KnowledgeBase",
    "Rule",
    "check_citations",
    "data_root",
    "load",
    "load_base_from",
    "load_from",
    "read_toml",
    "sections",
    "validate",
    "validated",
]
