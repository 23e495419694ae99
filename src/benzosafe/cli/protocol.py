"""``benzosafe protocol``: check a site protocol, and show the one in force and what it changes.

A protocol is a TOML file a clinic signs off (see ``docs/protocols/example-clinic.toml``). It is
chosen for every command by ``--protocol PATH`` or ``BENZOSAFE_PROTOCOL``. ``validate`` exits 0
when a file may be used, or 2 naming the key and the allowed values (a key that would loosen a
cited default is refused); ``show`` prints the protocol in force and each value it changes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from benzosafe.cli.root import OPTIONS, app

protocol_app = typer.Typer(
    help="Validate or show a site protocol. A clinic's tightening of the cited defaults.",
    no_args_is_help=True,
)
app.add_typer(protocol_app, name="protocol")


def _changes(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    from benzosafe.knowledge import load
    from benzosafe.knowledge.protocol import protocol_changes, read_protocol

    protocol, info = read_protocol(path)
    changes = protocol_changes(load(), protocol, info)  # raises on a key that loosens
    return {**info.to_dict(), "path": str(path)}, [c.to_dict() for c in changes]


def _print(info: dict[str, str], changes: list[dict[str, str]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"protocol": info, "changes": changes}, indent=2))
        return
    typer.echo(f"{info['name']}, version {info['version']}")
    typer.echo(f"source: {info['source']}")
    typer.echo(f"file: {info['path']} (sha256 {info['sha256']})")
    if not changes:
        typer.echo("changes nothing: every value is the cited default")
    for change in changes:
        typer.echo(f"  {change['key']}: {change['default']} -> {change['value']}")


@protocol_app.command("validate")
def protocol_validate(
    path: Annotated[Path, typer.Argument(help="The protocol file (TOML).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check a protocol file: exit 0 if it may be used, 2 naming the key that cannot."""
    info, changes = _changes(path)
    _print(info, changes, as_json)
    if not as_json:
        typer.echo("valid: it only tightens the cited defaults")


@protocol_app.command("show")
def protocol_show(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The protocol in force (``--protocol`` or BENZOSAFE_PROTOCOL) and what it changes."""
    from benzosafe.knowledge.protocol import protocol_path

    path = protocol_path(OPTIONS.protocol)
    if path is None:
        if as_json:
            typer.echo(json.dumps({"protocol": None, "changes": []}, indent=2))
        else:
            typer.echo("no site protocol: every output uses the cited defaults")
        return
    info, changes = _changes(path)
    _print(info, changes, as_json)
