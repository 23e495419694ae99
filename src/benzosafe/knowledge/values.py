"""The knowledge's plain values that the clinical core reads at run time, without pydantic.

:data:`Severity`, and :class:`ProtocolInfo` (the site protocol laid over the cited defaults)
with the helpers every output uses to name it. They live apart from the pydantic models of
:mod:`benzosafe.knowledge.models` so that a process that takes its knowledge from the
snapshot (:mod:`benzosafe.knowledge.snapshot`, the command line's ``check``) runs the core
without importing pydantic; :mod:`benzosafe.knowledge.bundle` re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Severity = Literal["info", "warning", "critical"]


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


def protocol_of(kb: Any) -> ProtocolInfo | None:
    """The site protocol laid over ``kb``: a :class:`~benzosafe.knowledge.bundle.Knowledge`
    (validated, or its snapshot) may have one; a bare knowledge base has none."""
    protocol = getattr(kb, "protocol", None)
    return protocol if isinstance(protocol, ProtocolInfo) else None
