"""The web faces' rooms: neither imports the package root (the version comes from
benzosafe._version), the CDS service never reaches into the clinic app, and the clinic app
touches the CDS service only where it mounts it."""

from __future__ import annotations

import ast
from pathlib import Path

import benzosafe.web

WEB = Path(benzosafe.web.__file__).parent


def _imports(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_web_never_imports_the_package_root() -> None:
    for path in WEB.rglob("*.py"):
        assert "benzosafe" not in _imports(path), path


def test_the_two_apps_keep_to_their_rooms() -> None:
    for path in (WEB / "cds").rglob("*.py"):
        assert not any(m.startswith("benzosafe.web.clinic") for m in _imports(path)), path
    for path in (WEB / "clinic").rglob("*.py"):
        reaches = {m for m in _imports(path) if m.startswith("benzosafe.web.cds")}
        if path.name == "app.py":
            assert reaches <= {"benzosafe.web.cds.app", "benzosafe.web.cds.settings"}, reaches
        else:
            assert not reaches, path
