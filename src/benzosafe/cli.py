"""The ``benzosafe`` command line (Typer + Rich): thin, parses, calls the core, renders.

Heavy modules are imported inside the commands so that a cold start stays light.
Exit codes: 0 fine, 1 a finding at the ``--fail-on`` level, 2 invalid input or usage.
"""

from __future__ import annotations

import sys
from typing import NoReturn

import typer

from benzosafe.errors import BenzosafeError

app = typer.Typer(
    name="benzosafe",
    help="Clinical decision support for clonazepam and the benzodiazepines. "
    "It supports, never replaces, clinical judgement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
knowledge_app = typer.Typer(help="The cited clinical knowledge base.", no_args_is_help=True)
app.add_typer(knowledge_app, name="knowledge")


def fail(message: str, code: int = 2) -> NoReturn:
    """Print a clear message on stderr and exit (2: invalid input or usage)."""
    sys.stderr.write(f"benzosafe: {message}\n")
    raise typer.Exit(code)


@knowledge_app.command("validate")
def knowledge_validate() -> None:
    """Load and check every knowledge data file; exit 2 with the problems if any."""
    from benzosafe.knowledge import load

    try:
        kb = load()
    except BenzosafeError as exc:
        fail(str(exc))
    typer.echo(
        f"knowledge {kb.version}: {len(kb.rules)} rules, {len(kb.sources)} sources, "
        f"{len(kb.benzodiazepines)} benzodiazepines, {len(kb.depressant_classes)} "
        f"depressant classes: valid"
    )


def main() -> None:
    """Console-script entry point."""
    app()
