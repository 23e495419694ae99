"""The validated knowledge base kept on disk as plain objects, read without importing pydantic.

The command line's ``check`` (:mod:`benzosafe.cli.prescribing`) takes its knowledge from here:
:func:`load_snapshot` reads a file written from the validated
:class:`~benzosafe.knowledge.models.KnowledgeBase` (the core tables the check reads: sources,
drugs, classes, conditions, indications, rules, populations) in which every model is a
:class:`Frozen` object of the same name with the same fields, read-only. Importing pydantic
and defining the models costs more than the rest of a check's cold start together; the
clinical core reads fields only, so it gives the same report on either (a test holds this
over every rule's cases). What the snapshot does not hold: the taper, assessment, CDS and
screening parts (commands that need them load the validated :class:`Knowledge`), a site
protocol (with ``--protocol`` the validated knowledge is loaded), and the product index,
read from its own file at first use (``products``) as without the snapshot.

The file is named by the same content hash as :mod:`benzosafe.knowledge.cache` (every data
file, the knowledge modules' source, the versions of benzosafe, pydantic and Python): a
changed data file is a new name, and on a miss the knowledge is loaded, validated and a new
snapshot written. It is a pickle read by a restricted unpickler that builds only the classes
of this module and a few plain value types: anything wrong with the file is ignored, the
knowledge loaded and validated again.
"""

from __future__ import annotations

import io
import os
import pickle  # read only through the restricted unpickler below
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn

from benzosafe.knowledge.cache import cache_folder, content_key, write_file

if TYPE_CHECKING:
    from benzosafe.knowledge.models import KnowledgeBase
    from benzosafe.knowledge.products import ProductIndex

_MAGIC = b"benzosafe-knowledge-snapshot/1\n"
_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
# Plain value types a knowledge model may hold, besides the models themselves.
_VALUES = {("decimal", "Decimal"), ("datetime", "date"), ("builtins", "set"),
           ("builtins", "frozenset")}  # fmt: skip
_MODELS = "benzosafe.knowledge.models."


class Frozen:
    """A knowledge model read from the snapshot: its fields as read-only attributes, equal to
    another of its class with the same fields (as the frozen pydantic model is)."""

    _key = ""  # the model it stands for, ``benzosafe.knowledge.models.Rule``

    def __setattr__(self, name: str, value: object) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is read-only (knowledge snapshot)")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is read-only (knowledge snapshot)")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *self.__dict__.values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k[0] != "_")
        return f"{type(self).__name__}({fields})"


_MIRRORS: dict[str, type[Frozen]] = {}


def _mirror(key: str) -> type[Frozen]:
    """The :class:`Frozen` class standing for the knowledge model ``key`` (made once)."""
    found = _MIRRORS.get(key)
    if found is None:
        if not key.startswith(_MODELS) or not key[len(_MODELS) :].isidentifier():
            raise pickle.UnpicklingError(f"{key} is not a knowledge model")
        name = key[len(_MODELS) :]
        found = type(name, (Frozen,), {"__slots__": (), "_key": key, "__qualname__": name})
        _MIRRORS[key] = found
    return found


class KnowledgeBaseSnapshot(Frozen):
    """The core tables as the snapshot holds them; like
    :class:`~benzosafe.knowledge.models.KnowledgeBase`, its ``products`` are read at first use
    and it hashes by identity (look-up indexes are cached per knowledge)."""

    _key = _MODELS + "KnowledgeBase"
    protocol = None  # a site protocol is never in the snapshot

    __hash__ = object.__hash__

    @property
    def products(self) -> ProductIndex:
        index: ProductIndex | None = self.__dict__.get("_products")
        if index is None:
            from pathlib import Path

            from benzosafe.knowledge.products import load_products_below

            root = self.__dict__.get("_products_root")
            index = load_products_below(None if root in (None, _DATA) else Path(root))
            self.__dict__["_products"] = index
        return index


def snapshot_bytes(kb: KnowledgeBase) -> bytes:
    """The snapshot file of a validated knowledge base (imports pydantic: the writer has)."""
    from pydantic import BaseModel

    from benzosafe.knowledge.models import KnowledgeBase

    class Writer(pickle.Pickler):
        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, type) and issubclass(obj, Frozen) and obj._key in _MIRRORS:
                return (_mirror, (obj._key,))
            if isinstance(obj, BaseModel):
                key = f"{type(obj).__module__}.{type(obj).__qualname__}"
                return (_new, (_mirror(key),), dict(obj.__dict__))
            return NotImplemented

    state = {name: getattr(kb, name) for name in KnowledgeBase.model_fields}
    out = io.BytesIO()
    Writer(out, protocol=pickle.HIGHEST_PROTOCOL).dump((KnowledgeBaseSnapshot, state))
    return _MAGIC + out.getvalue()


def _new(cls: type[Frozen]) -> Frozen:
    return object.__new__(cls)


class _Unpickler(pickle.Unpickler):
    """Builds this module's classes and plain values, nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _VALUES:
            return super().find_class(module, name)
        if module == __name__ and name in ("_mirror", "_new", "KnowledgeBaseSnapshot"):
            return globals()[name]
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in the knowledge snapshot")


def read_snapshot(data: bytes, root: str) -> KnowledgeBase | None:
    """The knowledge base in a snapshot file's bytes, or None when it is not one."""
    if not data.startswith(_MAGIC):
        return None
    try:
        cls, state = _Unpickler(io.BytesIO(data[len(_MAGIC) :])).load()
    except Exception:  # any broken file is rebuilt, never trusted
        return None
    if cls is not KnowledgeBaseSnapshot or not isinstance(state, dict):
        return None
    kb = object.__new__(KnowledgeBaseSnapshot)
    kb.__dict__.update(state, _products_root=root, _products=None)
    return kb  # type: ignore[return-value]  # read as a KnowledgeBase: the same fields


def load_snapshot_from(
    root: str, folder: str | None, build: Callable[[str], KnowledgeBase]
) -> KnowledgeBase:
    """The knowledge base below ``root``: from its snapshot in ``folder`` when there is one for
    this content, else the validated one ``build`` returns (its snapshot written for the next
    run). No folder (``BENZOSAFE_CACHE_DIR=off``): built every time."""
    if folder is None:
        return build(root)
    path = os.path.join(folder, f"snapshot-{content_key(root)}.pickle")
    try:
        with open(path, "rb") as f:
            kb = read_snapshot(f.read(), root)
    except OSError:
        kb = None
    if kb is None:
        kb = build(root)
        write_file(path, snapshot_bytes(kb))
    return kb


def _packaged(root: str) -> KnowledgeBase:
    from benzosafe.knowledge.bundle import load

    return load()


def load_snapshot() -> KnowledgeBase:
    """The packaged knowledge base for a check, from its snapshot when there is one."""
    if not os.path.isdir(_DATA):  # not installed as files: nothing to hash, the validated load
        return _packaged(_DATA)
    return load_snapshot_from(_DATA, cache_folder(), _packaged)
