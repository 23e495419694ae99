"""Clinical knowledge as versioned, cited data files and their strict typed loader."""

from benzosafe.knowledge.loader import (
    check_citations,
    data_root,
    load,
    load_from,
    read_toml,
    sections,
    validate,
    validated,
)
from benzosafe.knowledge.models import KnowledgeBase, Rule

__all__ = [
    "KnowledgeBase",
    "Rule",
    "check_citations",
    "data_root",
    "load",
    "load_from",
    "read_toml",
    "sections",
    "validate",
    "validated",
]
