"""The root ``benzosafe`` command group and what every command module shares.

:data:`app` is the Typer application the command modules add their commands and groups to.
Its group class, :class:`BenzosafeGroup`, is the one place a :class:`BenzosafeError` is
caught: whatever command raised it, the user sees ``benzosafe: <message>`` on stderr and the
process exits 2, with no traceback. :func:`fail` does the same for usage errors the commands
find themselves; :func:`read_json` and :func:`read_text` read an input file or fail with the
option's name; :func:`knowledge` is the knowledge every command works with (the cited
defaults, with the site protocol of ``--protocol`` or ``BENZOSAFE_PROTOCOL`` laid over
them). Only Typer and the standard library are imported here: this module is loaded by every
run, ``--help`` included.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from benzosafe.errors import BenzosafeError

if TYPE_CHECKING:
    from benzosafe.knowledge import Knowledge
    from benzosafe.knowledge.models import KnowledgeBase

#: Exit status of invalid input or usage (1 is kept for ``check --fail-on``).
USAGE_EXIT = 2


def fail(message: str, code: int = USAGE_EXIT) -> NoReturn:
    """Print a clear message on stderr and exit (2: invalid input or usage)."""
    sys.stderr.write(f"benzosafe: {message}\n")
    raise typer.Exit(code)


#: The sections of ``benzosafe --help``, by workflow, and the commands in each, in order.
WORKFLOWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Check and plan", ("check", "drug", "taper")),
    ("Assess", ("assess", "triage", "level-of-care")),
    ("Programme (the clinic's records and web app)", ("serve", "db", "user")),
    ("Integrate (CDS Hooks for an EHR)", ("serve-cds",)),
    ("Screen (dispensing records)", ("screen", "synth", "drug-map")),
    ("Knowledge", ("knowledge", "protocol", "docs", "demo")),
)


class BenzosafeGroup(TyperGroup):
    """The root group; every subcommand runs inside its :meth:`invoke`, so an error of the
    exception tree raised anywhere below ends here as one line and exit status 2; its help
    lists the commands by workflow (:data:`WORKFLOWS`)."""

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        shown = {n: c for n in self.list_commands(ctx) if (c := self.get_command(ctx, n))}
        shown = {n: c for n, c in shown.items() if not c.hidden}
        if not shown:
            return
        limit = formatter.width - 6 - max(len(n) for n in shown)
        placed = {n for _, names in WORKFLOWS for n in names}
        sections = [*WORKFLOWS, ("Other", tuple(n for n in shown if n not in placed))]
        for title, names in sections:
            rows = [(n, shown[n].get_short_help_str(limit)) for n in names if n in shown]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    # ctx is the Click Context that Typer vendors in a private module (typer._click); Any keeps
    # this override independent of where a Typer release keeps it
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except BenzosafeError as exc:
            fail(str(exc))


app = typer.Typer(
    name="benzosafe",
    cls=BenzosafeGroup,
    help="Clinical decision support for clonazepam and the benzodiazepines. "
    "It supports, never replaces, clinical judgement.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain help, so that the commands are listed by workflow (format_commands) and --help
    # does not import Rich
    rich_markup_mode=None,
)


class Options:
    """What the root command was given, for every command below it."""

    protocol: Path | None = None


OPTIONS = Options()
PROTOCOL_ENV = "BENZOSAFE_PROTOCOL"  # the same name as knowledge.protocol.ENV_VAR


@app.callback()
def _root(
    protocol: Annotated[
        Path | None,
        typer.Option(
            "--protocol",
            envvar=PROTOCOL_ENV,
            help="A site protocol (TOML) laid over the cited defaults; it may only tighten them.",
            show_envvar=True,
        ),
    ] = None,
) -> None:
    OPTIONS.protocol = protocol


class Output(StrEnum):
    """What a tabular command prints (``--format``)."""

    table = "table"
    csv = "csv"
    json = "json"


def output_format(
    given: Output | None, as_json: bool = False, printed_by_default: bool = True
) -> Output | None:
    """The format to print: ``--format`` if given (``--json`` is ``--format json``); else a
    table for a person at a terminal and CSV for a pipe or file, or nothing when the command
    wrote files and was not asked to print (``printed_by_default`` False)."""
    if as_json and given not in (None, Output.json):
        fail(f"--json and --format {given.value if given else ''}: give one of them")
    if as_json:
        return Output.json
    if given is not None:
        return given
    if not printed_by_default:
        return None
    return Output.table if sys.stdout.isatty() else Output.csv


def knowledge() -> Knowledge:
    """The knowledge this run works with: the cited defaults, and the site protocol if set."""
    if OPTIONS.protocol is None and not os.environ.get(PROTOCOL_ENV):
        from benzosafe.knowledge.bundle import load

        return load()
    from benzosafe.knowledge.protocol import load_active

    return load_active(OPTIONS.protocol)


def check_knowledge() -> KnowledgeBase:
    """The knowledge a check reads: the cited defaults' core tables from their snapshot
    (:mod:`benzosafe.knowledge.snapshot`, no pydantic imported), or with a site protocol the
    validated knowledge with the protocol laid over it."""
    if OPTIONS.protocol is None and not os.environ.get(PROTOCOL_ENV):
        from benzosafe.knowledge.snapshot import load_snapshot

        return load_snapshot()
    from benzosafe.knowledge.protocol import load_active

    return load_active(OPTIONS.protocol)


def read_json(path: Path) -> Any:
    """The JSON document of an ``--input`` file, or exit 2 saying why it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        fail(f"--input: cannot read {path}: {exc.strerror}")
    except json.JSONDecodeError as exc:
        fail(f"--input: {path} is not valid JSON: {exc}")


def read_text(path: Path, field: str) -> str:
    """The text of the file an option names, or exit 2 naming the option."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{field}: cannot read {path}: {exc.strerror}")
