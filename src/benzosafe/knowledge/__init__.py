"""Clinical knowledge as versioned, cited data files and their strict typed loader.

:func:`load` returns the whole knowledge as one :class:`Knowledge` value; the faces load it
once and pass it to the clinical core. The names below are imported at their first use, so
that importing a pydantic-free module of this package (:mod:`benzosafe.knowledge.values`,
:mod:`benzosafe.knowledge.snapshot`) does not import the models and pydantic.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_LAZY = {
    "Knowledge": "benzosafe.knowledge.bundle",
    "load": "benzosafe.knowledge.bundle",
    "load_from": "benzosafe.knowledge.bundle",
    "check_citations": "benzosafe.knowledge.loader",
    "data_root": "benzosafe.knowledge.loader",
    "load_base_from": "benzosafe.knowledge.loader",
    "read_toml": "benzosafe.knowledge.loader",
    "sections": "benzosafe.knowledge.loader",
    "validate": "benzosafe.knowledge.loader",
    "validated": "benzosafe.knowledge.loader",
    "KnowledgeBase": "benzosafe.knowledge.models",
    "Rule": "benzosafe.knowledge.models",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'benzosafe.knowledge' has no attribute {name!r}")


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
