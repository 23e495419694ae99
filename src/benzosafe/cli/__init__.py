"""The ``benzosafe`` command line (Typer + Rich): thin, it parses, calls the core and renders.

One module per command group adds its commands to the root :data:`app` of
:mod:`benzosafe.cli.root`, whose group class turns any :class:`~benzosafe.errors.BenzosafeError`
into ``benzosafe: <message>`` on stderr and exit status 2; :mod:`benzosafe.cli.render` draws
results for a terminal. Exit codes: 0 fine, 1 a finding at the ``check --fail-on`` level,
2 invalid input or usage. The command modules import only Typer and the standard library at
load time; the core, Rich, FastAPI, SQLAlchemy and the engines are imported inside the
commands, so that ``benzosafe --help`` and ``benzosafe check`` start light.
"""

from __future__ import annotations

# Each command module adds its commands to the root app as it is imported, so the order of
# these imports is the order of the commands in ``benzosafe --help`` (kept as it was).
# isort: off
from benzosafe.cli import (
    knowledge,
    protocol,
    assessment,
    records,
    taper,
    cds,
    screening,
    prescribing,
)

# isort: on
from benzosafe.cli.root import app, fail

__all__ = ["COMMAND_MODULES", "app", "fail", "main"]

#: The command modules, in the order they register their commands.
COMMAND_MODULES = (
    knowledge,
    protocol,
    assessment,
    records,
    taper,
    cds,
    screening,
    prescribing,
)


def main() -> None:
    """Console-script entry point (``benzosafe`` and ``python -m benzosafe``)."""
    app()
