"""The ``benzosafe`` command line (Click + Rich): thin, it parses, calls the core and renders.

The root group :data:`app` of :mod:`benzosafe.cli.root` names every command and the module
it lives in (one module per command group), imports that module only when the command is run
or its help shown, and turns any :class:`~benzosafe.errors.BenzosafeError` into
``benzosafe: <message>`` on stderr and exit status 2; :mod:`benzosafe.cli.params` holds the
Click pieces the commands are declared with; :mod:`benzosafe.cli.render` draws results for a
terminal. Exit codes: 0 fine, 1 a finding at the ``check --fail-on`` level, 2 invalid input or
usage. The command modules import only Click and the standard library at load time; the core,
Rich, FastAPI, SQLAlchemy and the engines are imported inside the commands, so that
``benzosafe --help`` and ``benzosafe check`` start light.
"""

from __future__ import annotations

from benzosafe.cli.root import COMMANDS, app, fail

__all__ = ["COMMANDS", "app", "fail", "main"]


def main() -> None:
    """Console-script entry point (``benzosafe`` and ``python -m benzosafe``)."""
    app()
