"""Rendering for people at a terminal: the CLI face's one place that draws results.

:mod:`~benzosafe.cli.render.check` draws check reports and monographs with Rich,
:mod:`~benzosafe.cli.render.assessment` writes scores, triage and level-of-care
recommendations as plain text, :mod:`~benzosafe.cli.render.screen` draws a population screen
(progress on stderr, the summary table on stdout). They are three modules so that a command
imports only what it draws with (the plain-text assessment needs no Rich); what they share,
the judgement line and the way a source is cited, lives here and imports nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

#: Printed under every result a person reads.
JUDGEMENT = "benzosafe supports, never replaces, clinical judgement."


def knowledge_line(version: str, protocol: Any = None) -> str:
    """``knowledge <version>``, and the site protocol when one changed the result.

    ``protocol`` is a :class:`~benzosafe.knowledge.bundle.ProtocolInfo` or its JSON shape.
    """
    if protocol is None:
        return f"knowledge {version}"
    p: Mapping[str, str] = protocol if isinstance(protocol, Mapping) else protocol.to_dict()
    return (
        f"knowledge {version}; site protocol {p['name']}, version {p['version']} "
        f"(sha256 {p['sha256'][:12]}; {p['source']})"
    )


def cited(sources: Iterable[tuple[str, str]]) -> str:
    """``[ref] section; [ref] section`` for (source id, section) pairs."""
    return "; ".join(f"[{ref}] {section}".strip() for ref, section in sources)
