"""The root ``benzosafe`` command group and what every command module shares.

:data:`app` is the Click group every command hangs from. Its class, :class:`BenzosafeGroup`,
is the one place a :class:`BenzosafeError` is caught: whatever command raised it, the user
sees ``benzosafe: <message>`` on stderr and the process exits 2, with no traceback. It lists
the commands by workflow (:data:`WORKFLOWS`) and imports a command's module only when that
command is run or its help is shown (:data:`COMMANDS`): ``check`` loads only its own module.
:func:`fail` does the same for usage errors the commands find themselves; :func:`read_json`
and :func:`read_text` read an input file or fail with the option's name; :func:`knowledge` is
the knowledge every command works with (the cited defaults, with the site protocol of
``--protocol`` or ``BENZOSAFE_PROTOCOL`` laid over them), :func:`check_knowledge` the core
tables a check reads. Only Click and the standard library are imported here: this module is
loaded by every run, ``--help`` included.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from importlib import import_module
from typing import TYPE_CHECKING, Any, NoReturn

import click

from benzosafe.cli.params import PATH, Group, option
from benzosafe.errors import BenzosafeError

if TYPE_CHECKING:
    from pathlib import Path

    from benzosafe.knowledge import Knowledge
    from benzosafe.knowledge.models import KnowledgeBase

#: Exit status of invalid input or usage (1 is kept for ``check --fail-on``).
USAGE_EXIT = 2


def fail(message: str, code: int = USAGE_EXIT) -> NoReturn:
    """Print a clear message on stderr and exit (2: invalid input or usage)."""
    sys.stderr.write(f"benzosafe: {message}\n")
    raise click.exceptions.Exit(code)


#: The sections of ``benzosafe --help``, by workflow, and the commands in each, in order.
WORKFLOWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Check and plan", ("check", "drug", "taper")),
    ("Assess", ("assess", "triage", "level-of-care")),
    ("Programme (the clinic's records and web app)", ("serve", "db", "user")),
    ("Integrate (CDS Hooks for an EHR)", ("serve-cds",)),
    ("Screen (dispensing records)", ("screen", "synth", "drug-map")),
    ("Knowledge", ("knowledge", "protocol", "docs", "demo")),
)

#: Where each command lives: its module under ``benzosafe.cli`` and its name there.
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("prescribing", "check_command"),
    "drug": ("prescribing", "drug_command"),
    "taper": ("taper", "taper_command"),
    "assess": ("assessment", "assess_app"),
    "triage": ("assessment", "triage_command"),
    "level-of-care": ("assessment", "level_of_care_command"),
    "serve": ("records", "serve"),
    "db": ("records", "db_app"),
    "user": ("records", "user_app"),
    "serve-cds": ("cds", "serve_cds_command"),
    "screen": ("screening", "screen_command"),
    "synth": ("screening", "synth_app"),
    "drug-map": ("screening", "drug_map_app"),
    "knowledge": ("knowledge", "knowledge_app"),
    "protocol": ("protocol", "protocol_app"),
    "docs": ("prescribing", "docs_command"),
    "demo": ("prescribing", "demo_command"),
}


class BenzosafeGroup(Group):
    """The root group; every subcommand runs inside its :meth:`invoke`, so an error of the
    exception tree raised anywhere below ends here as one line and exit status 2; its help
    lists the commands by workflow (:data:`WORKFLOWS`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(n for n in self.commands if n not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, name = COMMANDS[cmd_name]
            command = getattr(import_module(f"benzosafe.cli.{module}"), name)
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
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

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BenzosafeError as exc:
            fail(str(exc))


class Options:
    """What the root command was given, for every command below it."""

    protocol: Path | None = None


OPTIONS = Options()
PROTOCOL_ENV = "BENZOSAFE_PROTOCOL"  # the same name as knowledge.protocol.ENV_VAR


@click.group(
    "benzosafe",
    cls=BenzosafeGroup,
    help="Clinical decision support for clonazepam and the benzodiazepines. "
    "It supports, never replaces, clinical judgement.",
    no_args_is_help=True,
)
@option(
    "--protocol",
    kind=PATH,
    envvar=PROTOCOL_ENV,
    show_envvar=True,
    help="A site protocol (TOML) laid over the cited defaults; it may only tighten them.",
)
def app(protocol: Path | None) -> None:
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
