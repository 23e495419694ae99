"""``benzosafe protocol``: check a site protocol, and show the one in force and what it changes.

A protocol is a TOML file a clinic signs off (see ``docs/protocols/example-clinic.toml``). It is
chosen for every command by ``--protocol PATH`` or ``BENZOSAFE_PROTOCOL``. ``validate`` exits 0
when a file may be used, or 2 naming the key and the allowed values (a key that would loosen a
cited default is refused); ``show`` prints the protocol in force and each value it changes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from benzosafe.cli.params import PATH, argument, flag, group
from benzosafe.cli.root import OPTIONS

if TYPE_CHECKING:
    from pathlib import Path

protocol_app = group(
    "protocol",
    help="Validate or show a site protocol. A clinic's tightening of the cited defaults.",
)


def _changes(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    from benzosafe.knowledge import load
    from benzosafe.knowledge.protocol import protocol_changes, read_protocol

    protocol, info = read_protocol(path)
    changes = protocol_changes(load(), protocol, info)  # raises on a key that loosens
    return {**info.to_dict(), "path": str(path)}, [c.to_dict() for c in changes]


def _print(info: dict[str, str], changes: list[dict[str, str]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"protocol": info, "changes": changes}, indent=2))
        return
    click.echo(f"{info['name']}, version {info['version']}")
    click.echo(f"source: {info['source']}")
    click.echo(f"file: {info['path']} (sha256 {info['sha256']})")
    if not changes:
        click.echo("changes nothing: every value is the cited default")
    for change in changes:
        click.echo(f"  {change['key']}: {change['default']} -> {change['value']}")


@protocol_app.command("validate")
@argument("path", kind=PATH, help="The protocol file (TOML).")
@flag("--json", "as_json", help="Print JSON.")
def protocol_validate(path: Path, as_json: bool) -> None:
    """Check a protocol file: exit 0 if it may be used, 2 naming the key that cannot."""
    info, changes = _changes(path)
    _print(info, changes, as_json)
    if not as_json:
        click.echo("valid: it only tightens the cited defaults")


@protocol_app.command("show")
@flag("--json", "as_json", help="Print JSON.")
def protocol_show(as_json: bool) -> None:
    """The protocol in force (``--protocol`` or BENZOSAFE_PROTOCOL) and what it changes."""
    from benzosafe.knowledge.protocol import protocol_path

    path = protocol_path(OPTIONS.protocol)
    if path is None:
        if as_json:
            click.echo(json.dumps({"protocol": None, "changes": []}, indent=2))
        else:
            click.echo("no site protocol: every output uses the cited defaults")
        return
    info, changes = _changes(path)
    _print(info, changes, as_json)
