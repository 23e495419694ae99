"""The Click pieces the command modules build their commands from.

:func:`option` and :func:`argument` declare a parameter with its help and a metavar that
names its type (``<str>``, ``<int>``, ``<path>``, ``<list[str]>``, ``<a|b|c>``); an option
with a default shows it, a required one says so. :class:`Command` lists a command's
arguments with their help before its options; :class:`Group` lists its commands in the order
they were added. Paths are :class:`pathlib.Path` values, made when one is given: pathlib is
not imported by a command that takes none (``check``'s cold start).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


class PathType(click.ParamType):  # type: ignore[type-arg]  # generic from Click 8.5
    """A file or folder path given on the command line, as a :class:`pathlib.Path`."""

    name = "path"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        from pathlib import Path

        return value if isinstance(value, Path) else Path(value)


PATH = PathType()
_NAMES = {str: "str", int: "int", float: "float"}


def _type(kind: Any) -> tuple[Any, str]:
    """The Click type of ``kind`` (str, int, float, PATH, a tuple of choices or a Click
    type) and the name its metavar shows."""
    if kind is PATH:
        return PATH, "path"
    if isinstance(kind, tuple):  # choices, as text (an enum's members are their values)
        choices = [str(k) for k in kind]
        return click.Choice(choices), "|".join(choices)
    if isinstance(kind, click.IntRange):
        return kind, "int range"
    return kind, _NAMES[kind]


def option(
    *decls: str,
    kind: Any = str,
    help: str,
    default: Any = None,
    required: bool = False,
    multiple: bool = False,
    **extra: Any,
) -> Callable[[F], F]:
    """An option taking a value of ``kind``; its default (if any) is shown in the help."""
    click_type, name = _type(kind)
    shown = f"list[{'Path' if kind is PATH else name}]" if multiple else name
    return click.option(
        *decls,
        type=click_type,
        default=default,
        required=required,
        multiple=multiple,
        metavar=f"<{shown}>",
        show_default=default not in (None, "") and not multiple,
        help=help,
        **extra,
    )


def flag(*decls: str, help: str, default: bool | None = False) -> Callable[[F], F]:
    """A flag (``--json``), or a pair (``--x/--no-x``) whose default None means not given."""
    return click.option(*decls, is_flag=True, default=default, help=help)


class Argument(click.Argument):
    """A positional argument with help, shown in an ``Arguments`` section of the help."""

    def __init__(self, decls: Sequence[str], help: str = "", shown: str = "str", **kw: Any):
        super().__init__(decls, **kw)
        self.help = help
        self.shown = shown

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        name = f"{{{self.name}}}" if self.required else f"[{self.name}]"
        return [f"{name}..." if self.nargs == -1 else name]

    def get_help_record(self, ctx: click.Context) -> tuple[str, str]:
        name = f"{self.name}..." if self.nargs == -1 else f"{self.name}"
        text = f"{self.help}  [required]" if self.required else (self.help or "")
        return f"{name} <{self.shown}>", text


def argument(
    name: str,
    *,
    kind: Any = str,
    help: str,
    required: bool = True,
    many: bool = False,
) -> Callable[[F], F]:
    """A positional argument of ``kind``; ``many``: one or more of them, as a tuple."""
    click_type, shown = _type(kind)
    return click.argument(
        name,
        cls=Argument,
        type=click_type,
        required=required,
        nargs=-1 if many else 1,
        help=help,
        shown=f"list[{shown}]" if many else shown,
    )


class Command(click.Command):
    """A command whose help lists its arguments, then its options."""

    def format_arguments(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Nothing: :meth:`format_options` lists the arguments (Click 8.5 would list them
        a second time, under another title; earlier releases do not list them)."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None:
                (arguments if isinstance(param, click.Argument) else options).append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


class Group(click.Group):
    """A command group that lists its commands in the order they were added."""

    command_class = Command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


def group(name: str, help: str) -> Group:
    """A group of subcommands (``benzosafe assess ...``); with no subcommand, its help."""
    return Group(name, help=help, no_args_is_help=True)
