"""The validated knowledge kept on disk, so that a command line's cold start does not validate it.

:func:`load_cached` returns the :class:`~benzosafe.knowledge.bundle.Knowledge` of a data folder
from a cache file named by the **content hash** of every ``.toml`` file below it (their paths
and bytes) with the versions of benzosafe, pydantic and Python and the source of the knowledge
modules (a model changed in a checkout is a new key too): change any data file and the
name changes, so the knowledge is loaded, validated and cross-checked again and a new file is
written. The product index (``products/products.json``) is not in the cache: it is read from its
own file at its first use, as without the cache.

The file is a pickle read by a restricted unpickler: it builds only the knowledge models of
``benzosafe.knowledge`` and a few plain value types (Decimal, date), never any other class, so
a file someone else wrote can at worst fail to load. Anything wrong with the file (missing,
truncated, another format, a class not allowed, a stale key) is ignored and the knowledge is
rebuilt; a cache folder that cannot be written is skipped silently. The folder is
``$BENZOSAFE_CACHE_DIR``, else ``$XDG_CACHE_HOME/benzosafe``, else ``~/.cache/benzosafe``;
``BENZOSAFE_CACHE_DIR=off`` turns the cache off.
"""

from __future__ import annotations

import io
import os
import pickle  # read only through the restricted unpickler below
import sys
from collections.abc import Callable
from importlib.machinery import PathFinder
from typing import TYPE_CHECKING, Any

# BLAKE2b from its C module: importing hashlib (OpenSSL) would be a tenth of a check's cold
# start, and BLAKE2b hashes the data files three times as fast as the built-in SHA-256
try:
    from _blake2 import blake2b
except ImportError:  # a Python without it
    from hashlib import blake2b

if TYPE_CHECKING:
    from importlib.abc import Traversable
    from pathlib import Path

    from benzosafe.knowledge.bundle import Knowledge

ENV_VAR = "BENZOSAFE_CACHE_DIR"
_MAGIC = b"benzosafe-knowledge-cache/1\n"
# Plain value types a knowledge model may hold, besides the models themselves.
_VALUES = {("decimal", "Decimal"), ("datetime", "date"), ("copyreg", "_reconstructor"),
           ("builtins", "object"), ("builtins", "set"), ("builtins", "frozenset")}  # fmt: skip


def cache_folder() -> str | None:
    """Where the cache lives, or None when turned off (``BENZOSAFE_CACHE_DIR=off``)."""
    given = os.environ.get(ENV_VAR)
    if given:
        return None if given == "off" else given
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "benzosafe")


def cache_dir() -> Path | None:
    """:func:`cache_folder` as a path."""
    from pathlib import Path

    folder = cache_folder()
    return None if folder is None else Path(folder)


def _data_files(root: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    out: list[tuple[str, Traversable]] = []
    for node in root.iterdir():
        if node.is_dir():
            out += _data_files(node, f"{prefix}{node.name}/")
        elif node.name.endswith(".toml"):
            out.append((prefix + node.name, node))
    return sorted(out, key=lambda pair: pair[0])


def _folder_files(root: str, suffix: str) -> list[tuple[str, str]]:
    """(name below ``root``, path) of every file ending in ``suffix``, by name; the same
    names as :func:`_data_files` gives, by the operating system's calls (no pathlib)."""
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        below = os.path.relpath(folder, root).replace(os.sep, "/")
        prefix = "" if below == "." else below + "/"
        out += [(prefix + f, os.path.join(folder, f)) for f in files if f.endswith(suffix)]
    return sorted(out)


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _pydantic_version() -> bytes:
    """pydantic's ``version.py`` (its version and the pydantic-core it needs), read without
    importing pydantic: the snapshot's reader (:mod:`benzosafe.knowledge.snapshot`) never
    imports it."""
    spec = PathFinder.find_spec("pydantic")
    if spec is None or not spec.submodule_search_locations:
        return b"no pydantic"
    try:
        return _read(os.path.join(spec.submodule_search_locations[0], "version.py"))
    except OSError:
        return b"no pydantic version"


def content_key(root: Traversable | str) -> str:
    """The hash of every ``.toml`` data file below ``root`` and of the code that reads them
    (the versions of benzosafe, pydantic and Python, and the knowledge modules' source)."""
    from benzosafe._version import __version__

    digest = blake2b(digest_size=32)
    digest.update(f"{__version__}\0{sys.version}\0".encode() + _pydantic_version() + b"\0")
    # the models' code too: a field added in a checkout without a new version is a new key
    here = os.path.dirname(os.path.abspath(__file__))
    for name in sorted(n for n in os.listdir(here) if n.endswith(".py")):
        digest.update(name.encode() + b"\0" + _read(os.path.join(here, name)))
    if isinstance(root, str) or hasattr(root, "__fspath__"):
        files = _folder_files(os.fspath(root), ".toml")  # type: ignore[arg-type]
        data_files = [(name, _read(path)) for name, path in files]
    else:
        data_files = [(name, node.read_bytes()) for name, node in _data_files(root)]
    for name, data in data_files:
        digest.update(f"{name}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


class _Unpickler(pickle.Unpickler):
    """Builds the knowledge models and plain values, nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _VALUES:
            return super().find_class(module, name)
        if module.startswith("benzosafe.knowledge.") and name.isidentifier():
            from pydantic import BaseModel

            found = super().find_class(module, name)
            if isinstance(found, type) and issubclass(found, BaseModel):
                return found
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in the knowledge cache")


def _read_cached(path: Path) -> Knowledge | None:
    from benzosafe.knowledge.bundle import Knowledge

    try:
        data = path.read_bytes()
    except OSError:
        return None
    if not data.startswith(_MAGIC):
        return None
    try:
        kb = _Unpickler(io.BytesIO(data[len(_MAGIC) :])).load()
    except Exception:  # any broken file is rebuilt, never trusted
        return None
    return kb if type(kb) is Knowledge else None


def write_file(path: str | Path, data: bytes) -> None:
    """Write a cache file whole or not at all (a reader never sees half of one); a folder that
    cannot be written is skipped: the knowledge was loaded all the same."""
    import tempfile

    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, delete=False, suffix=".tmp") as tmp:
            tmp.write(data)
        os.replace(tmp.name, path)
    except OSError:
        return


def _write(path: Path, kb: Knowledge) -> None:
    kept = kb.model_copy()
    # the product index and where it is read from belong to this process, not to the cache
    kept.__pydantic_private__ = {"_products_root": None, "_products": None}
    write_file(path, _MAGIC + pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL))


def load_cached(
    root: Traversable, build: Callable[[Traversable], Knowledge], folder: Path | None
) -> Knowledge:
    """The knowledge below ``root``: from the cache in ``folder`` when it holds this content's
    file, else built by ``build`` (which validates it) and kept there for the next run."""
    if folder is None:
        return build(root)
    path = folder / f"knowledge-{content_key(root)}.pickle"
    kb = _read_cached(path)
    if kb is None:
        kb = build(root)
        _write(path, kb)
    else:
        kb._products_root = root
        kb._products = None
    return kb
