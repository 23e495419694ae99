"""The package's layers, as docs/architecture.md draws them, held by reading the source.

knowledge → clinical → adapters (fhir, exports, store, population) → faces (cli, web). Each
rule reads every ``import`` of every module under ``src/benzosafe`` (inside functions too, where
the faces import lazily), so a forbidden import anywhere fails here, naming the module. Each
rule is also run on a small tree that breaks it, so that none of them can pass by reading
nothing. The cold-start tests run the command line as a process and look at what it loaded.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import benzosafe

SRC = Path(benzosafe.__file__).parent
ADAPTERS = ("fhir", "exports", "store", "population")
FACES = ("web", "cli")
MAX_LINES = 600
# The pure core does no I/O and renders nothing: no web, database, engine, terminal or file
# modules, and none of the adapters or faces.
CLINICAL_FORBIDDEN = (
    "fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "duckdb", "pyspark", "pyarrow",
    "rich", "typer", "click", "httpx", "jinja2", "reportlab", "matplotlib",
    "pathlib", "os", "io", "importlib", "sqlite3", "socket", "urllib",
    *(f"benzosafe.{p}" for p in (*ADAPTERS, *FACES)),
)  # fmt: skip
# ... nor loads its knowledge: the faces load it and pass it in.
KNOWLEDGE_LOADERS = {"load", "load_from", "load_base_from", "data_root", "read_toml", "sections"}


def _modules(root: Path, package: str) -> Iterator[Path]:
    for path in sorted((root / package).rglob("*.py")):
        if "migrations" not in path.relative_to(root).parts:
            yield path


def _imports(path: Path) -> Iterator[tuple[str, str | None]]:
    """(module, name) for every import; name is None for ``import module``."""
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield from ((node.module, alias.name) for alias in node.names)


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in prefixes)


def clinical_violations(root: Path) -> list[str]:
    """Imports of the clinical core that leave the core or load the knowledge."""
    out = []
    for path in _modules(root, "clinical"):
        for module, name in _imports(path):
            full = f"{module}.{name}" if name else module
            if _under(module, CLINICAL_FORBIDDEN) or _under(full, CLINICAL_FORBIDDEN):
                out.append(f"{path.relative_to(root)} imports {full}")
            elif _under(module, ("benzosafe.knowledge",)) and (
                name in KNOWLEDGE_LOADERS or module == "benzosafe.knowledge.loader"
            ):
                out.append(f"{path.relative_to(root)} loads knowledge ({full})")
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in KNOWLEDGE_LOADERS:
                base = ast.unparse(node.value)
                if base.endswith(("knowledge", "bundle", "loader")):
                    out.append(f"{path.relative_to(root)} loads knowledge ({ast.unparse(node)})")
    return out


def upward_violations(root: Path) -> list[str]:
    """Imports that point down the picture: knowledge below itself, adapters into faces."""
    below = {
        "knowledge": tuple(f"benzosafe.{p}" for p in ("clinical", *ADAPTERS, *FACES)),
        **{a: tuple(f"benzosafe.{f}" for f in FACES) for a in ADAPTERS},
    }
    out = []
    for package, forbidden in below.items():
        for path in _modules(root, package):
            out += [
                f"{path.relative_to(root)} imports {module}"
                for module, _ in _imports(path)
                if _under(module, forbidden)
            ]
    return out


def size_violations(root: Path) -> list[str]:
    """Modules over the size limit, or without a docstring saying what lives there."""
    out = []
    for path in _modules(root, "."):
        text = path.read_text("utf-8")
        lines = len(text.splitlines())
        if lines > MAX_LINES:
            out.append(f"{path.relative_to(root)}: {lines} lines")
        if not ast.get_docstring(ast.parse(text)):
            out.append(f"{path.relative_to(root)}: no docstring")
    return out


def test_clinical_core_imports_no_io_no_faces_and_loads_no_knowledge() -> None:
    assert clinical_violations(SRC) == []


def test_knowledge_and_adapters_never_import_a_layer_below() -> None:
    assert upward_violations(SRC) == []


def test_modules_are_small_and_say_what_lives_there() -> None:
    assert size_violations(SRC) == []


def test_each_rule_finds_what_breaks_it(tmp_path: Path) -> None:
    files = {
        "clinical/good.py": '"""Fine."""\nfrom benzosafe.knowledge import Knowledge\n',
        "clinical/a.py": '"""x"""\ndef f():\n    import rich.console\n',
        "clinical/b.py": '"""x"""\nfrom benzosafe.knowledge import load\n',
        "clinical/c.py": '"""x"""\nfrom benzosafe import web\n',
        "clinical/d.py": '"""x"""\nimport benzosafe.knowledge\nkb = benzosafe.knowledge.load()\n',
        "knowledge/e.py": '"""x"""\nfrom benzosafe.clinical.check import check_raw\n',
        "population/f.py": '"""x"""\nfrom benzosafe.cli.render.screen import print_summary\n',
        "store/migrations/g.py": "from benzosafe.web.clinic import app\n" + "x = 1\n" * 700,
        "exports/h.py": "x = 1\n" * (MAX_LINES + 1),
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert clinical_violations(tmp_path) == [
        "clinical/a.py imports rich.console",
        "clinical/b.py loads knowledge (benzosafe.knowledge.load)",
        "clinical/c.py imports benzosafe.web",
        "clinical/d.py loads knowledge (benzosafe.knowledge.load)",
    ]
    assert upward_violations(tmp_path) == [
        "knowledge/e.py imports benzosafe.clinical.check",
        "population/f.py imports benzosafe.cli.render.screen",
    ]
    assert size_violations(tmp_path) == [
        f"exports/h.py: {MAX_LINES + 1} lines",
        "exports/h.py: no docstring",
    ]


# --- cold start: what a command loads -----------------------------------------------------

# Heavy packages no light command needs; each belongs to a command that imports it inside.
HEAVY = (
    "fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "duckdb", "pyspark", "pyarrow",
    "reportlab", "matplotlib", "httpx", "jinja2",
)  # fmt: skip
_LOADED = (
    "import json, sys\n"
    "sys.argv = ['benzosafe', *sys.argv[1:]]\n"
    "from benzosafe.cli import main\n"
    "try:\n"
    "    main()\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "sys.stderr.write(json.dumps([code, sorted(sys.modules)]))\n"
)


def _loaded(*args: str, env: dict[str, str] | None = None) -> tuple[int, set[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _LOADED, *args], capture_output=True, text=True, timeout=60,
        env=env,
    )  # fmt: skip
    code, modules = json.loads(result.stderr.splitlines()[-1])
    return code, set(modules)


def _tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_help_loads_no_command_dependencies_and_no_core() -> None:
    code, modules = _loaded("--help")
    assert code == 0
    assert not _tops(modules) & set(HEAVY), _tops(modules) & set(HEAVY)
    ours = {m for m in modules if m.startswith("benzosafe.")}
    assert {"benzosafe.cli.prescribing", "benzosafe.cli.screening"} <= ours  # it read them
    assert not {m for m in ours if _under(m, ("benzosafe.clinical", "benzosafe.knowledge"))}


@pytest.mark.parametrize("fmt", [["--json"], []], ids=["json", "terminal"])
def test_check_loads_the_check_core_and_no_other_command(fmt: list[str]) -> None:
    code, modules = _loaded(
        "check", "--drug", "clonazepam", "--dose", "0.5 mg", "--frequency", "bid",
        "--indication", "panic-disorder", "--age", "40", "--fail-on", "never", *fmt,
    )  # fmt: skip
    assert code == 0
    heavy = {*HEAVY, "rich"} if fmt else set(HEAVY)  # Rich draws only for a person
    assert not _tops(modules) & heavy, _tops(modules) & heavy
    assert "benzosafe.clinical.check" in modules
    others = ("fhir", "exports", "store", "population", "web", "cli.render.screen")
    assert not {m for m in modules if _under(m, tuple(f"benzosafe.{o}" for o in others))}
    assert ("benzosafe.cli.render.check" in modules) == (not fmt)


def test_check_json_from_the_snapshot_loads_neither_pydantic_nor_another_command(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "BENZOSAFE_CACHE_DIR": str(tmp_path)}
    args = ["check", "--drug", "clonazepam", "--dose", "0.5 mg", "--frequency", "bid",
            "--indication", "panic-disorder", "--age", "40", "--fail-on", "never",
            "--json"]  # fmt: skip
    first_code, first = _loaded(*args, env=env)  # no snapshot yet: validated, then written
    assert "pydantic" in _tops(first)
    code, modules = _loaded(*args, env=env)
    assert code == first_code == 0
    assert not _tops(modules) & {"pydantic", "typer", "rich", *HEAVY}, _tops(modules)
    cli = {m for m in modules if _under(m, ("benzosafe.cli",))}
    assert cli == {"benzosafe.cli", "benzosafe.cli.root", "benzosafe.cli.params",
                   "benzosafe.cli.prescribing"}  # fmt: skip
