"""``benzosafe knowledge``: the cited clinical knowledge base, checked as a whole."""

from __future__ import annotations

import click

from benzosafe.cli.params import group

knowledge_app = group("knowledge", help="Check the cited knowledge base.")


@knowledge_app.command("validate")
def knowledge_validate() -> None:
    """Load and check every knowledge data file; exit 2 with the problems if any."""
    from benzosafe.knowledge import load

    kb = load()
    click.echo(
        f"knowledge {kb.version}: {len(kb.rules)} rules, {len(kb.sources)} sources, "
        f"{len(kb.benzodiazepines)} benzodiazepines, {len(kb.depressant_classes)} "
        f"depressant classes: valid"
    )
