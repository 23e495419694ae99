"""Clinical knowledge as versioned, cited data files and their strict typed loader."""

from benzosafe.knowledge.loader import load, load_from, validate
from benzosafe.knowledge.models import KnowledgeBase, Rule

__all__ = ["KnowledgeBase", "Rule", "load", "load_from", "validate"]
