"""The whole knowledge as one value: :class:`Knowledge`, and :func:`load`, which makes it.

The faces (command line, web app, CDS Hooks service, screening) call :func:`load` once and
hand the result to the clinical core, which never loads anything itself. A test that wants
different knowledge builds an altered copy (``kb.model_copy(update={...})``) and passes that.

:class:`Knowledge` is the core :class:`~benzosafe.knowledge.models.KnowledgeBase` (sources,
drugs, classes, conditions, indications, prescription rules) with the parts that build on
it: taper pace and bounds, assessment (instruments, triage, level of care), CDS Hooks
services, screening measures. Each part is checked against the core tables when loaded. The
product index (``kb.products``, every NDC and RxNorm product the resolver knows) is part of
it too, read at its first use: the command line's cold start does not pay for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.abc import Traversable

from benzosafe.knowledge.assessment import AssessmentKnowledge, load_assessment_from
from benzosafe.knowledge.cds import CdsKnowledge, load_cds_from
from benzosafe.knowledge.english import english_word_counts
from benzosafe.knowledge.loader import data_root, load_base_from
from benzosafe.knowledge.models import KnowledgeBase
from benzosafe.knowledge.screening import Screening, load_screening_from
from benzosafe.knowledge.taper import TaperKnowledge, load_taper_from
from benzosafe.knowledge.values import ProtocolInfo, knowledge_text, protocol_fields, protocol_of

__all__ = [
    "Knowledge",
    "ProtocolInfo",
    "knowledge_text",
    "load",
    "load_from",
    "protocol_fields",
    "protocol_of",
]


class Knowledge(KnowledgeBase):
    """Every validated knowledge file: the core tables and the parts built on them.

    ``protocol`` is None for the cited defaults, else the site protocol laid over them
    (:mod:`benzosafe.knowledge.protocol`).
    """

    taper: TaperKnowledge
    assessment: AssessmentKnowledge
    cds: CdsKnowledge
    screening: Screening
    protocol: ProtocolInfo | None = None

    def english_word_counts(self) -> Mapping[str, int]:
        """English word frequencies (read at first use: only triage needs them)."""
        return english_word_counts()


def load_from(root: Traversable) -> Knowledge:
    """Load, validate and cross-check every knowledge file below ``root``."""
    base = load_base_from(root)
    # Each part was validated on its own and against ``base``: no second validation pass.
    kb = Knowledge.model_construct(
        **{name: getattr(base, name) for name in KnowledgeBase.model_fields},
        taper=load_taper_from(root, base),
        assessment=load_assessment_from(root, base),
        cds=load_cds_from(root, base),
        screening=load_screening_from(root, base),
    )
    kb._products_root = root  # the product index is read at its first use (kb.products)
    return kb


@cache
def load() -> Knowledge:
    """The packaged knowledge, loaded and validated once, at first use (kept validated on disk
    by its content hash, :mod:`benzosafe.knowledge.cache`, for the next process)."""
    from benzosafe.knowledge.cache import cache_dir, load_cached

    return load_cached(data_root(), load_from, cache_dir())
