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
from dataclasses import dataclass
from functools import cache
from importlib.abc import Traversable

from benzosafe.knowledge.assessment import AssessmentKnowledge, load_assessment_from
from benzosafe.knowledge.cds import CdsKnowledge, load_cds_from
from benzosafe.knowledge.english import english_word_counts
from benzosafe.knowledge.loader import data_root, load_base_from
from benzosafe.knowledge.models import KnowledgeBase
from benzosafe.knowledge.screening import Screening, load_screening_from
from benzosafe.knowledge.taper import TaperKnowledge, load_taper_from


@dataclass(frozen=True, slots=True)
class ProtocolInfo:
    """The site protocol laid over the cited defaults, as every output it changed names it."""

    name: str
    version: str
    source: str
    sha256: str
    path: str

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "version": self.version,
            "source": self.source,
            "sha256": self.sha256,
        }

    def label(self) -> str:
        return f"{self.name}, version {self.version} (sha256 {self.sha256[:12]})"


def protocol_fields(protocol: ProtocolInfo | None) -> dict[str, dict[str, str]]:
    """``{"protocol": ...}`` for the JSON of a result a site protocol changed, else nothing:
    without a protocol every output stays exactly what the cited defaults give."""
    return {"protocol": protocol.to_dict()} if protocol is not None else {}


def knowledge_text(version: str, protocol: ProtocolInfo | None) -> str:
    """ "Knowledge version X", and the site protocol beside it when one changed the result."""
    text = f"Knowledge version {version}"
    return f"{text}; site protocol {protocol.label()}" if protocol is not None else text


def protocol_of(kb: KnowledgeBase) -> ProtocolInfo | None:
    """The site protocol laid over ``kb``, if it is a :class:`Knowledge` that has one."""
    return kb.protocol if isinstance(kb, Knowledge) else None


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
