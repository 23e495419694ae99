"""Loading and validating the knowledge data (``knowledge/data/*.toml``).

:func:`load_base_from` reads the core data files, validates them into the strict
models of :mod:`benzosafe.knowledge.models`, checks every cross-reference
(citations, drugs, indications, conditions, classes) and returns a frozen
:class:`KnowledgeBase`; the other knowledge modules use the helpers here for their
own files. Any problem raises :class:`KnowledgeError` naming the
file and the place, so a typo fails the test suite, never a patient.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Iterator
from importlib import resources
from importlib.abc import Traversable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from benzosafe.errors import KnowledgeError
from benzosafe.knowledge.models import (
    BenzodiazepineEntry,
    Citation,
    Condition,
    DepressantClass,
    IndicationDef,
    KnowledgeBase,
    Monograph,
    Populations,
    Rule,
    Source,
)

_DATA = "benzosafe.knowledge.data"
T = TypeVar("T")


def read_toml(node: Traversable) -> dict[str, Any]:
    try:
        return tomllib.loads(node.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise KnowledgeError(f"{node.name}: not valid TOML: {exc}") from exc


def _files(root: Traversable, folder: str) -> list[Traversable]:
    return sorted(
        (f for f in root.joinpath(folder).iterdir() if f.name.endswith(".toml")),
        key=lambda f: f.name,
    )


def validated(cls: type[T], data: Any, where: str) -> T:
    try:
        return cls.model_validate(data)  # type: ignore[attr-defined, no-any-return]
    except ValidationError as exc:
        raise KnowledgeError(f"{where}: {exc}") from exc


def _unique(items: Iterable[tuple[str, T]], what: str) -> dict[str, T]:
    out: dict[str, T] = {}
    for key, item in items:
        if key in out:
            raise KnowledgeError(f"duplicate {what} id {key!r}")
        out[key] = item
    return out


def citations(obj: object) -> Iterator[Citation]:
    """Every Citation anywhere inside a model, however deep."""
    if isinstance(obj, Citation):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from citations(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            yield from citations(value)
    elif isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from citations(getattr(obj, name))


def _all_data_files(root: Traversable, prefix: str = "") -> list[tuple[str, Traversable]]:
    """Every .toml file below ``root`` (any depth), by path: the version hash covers them all."""
    out: list[tuple[str, Traversable]] = []
    for node in root.iterdir():
        if node.is_dir():
            out += _all_data_files(node, f"{prefix}{node.name}/")
        elif node.name.endswith(".toml"):
            out.append((prefix + node.name, node))
    return sorted(out, key=lambda pair: pair[0])


def load_base_from(root: Traversable) -> KnowledgeBase:
    """Load and validate the core tables below ``root`` (sources, drugs, classes, rules).

    The parts that build on them (taper, assessment, CDS Hooks, screening) are loaded by
    :func:`benzosafe.knowledge.bundle.load_from`, which checks them against these tables.
    """
    digest = hashlib.sha256()
    for name, node in _all_data_files(root):
        digest.update(name.encode())
        digest.update(node.read_bytes())

    meta = read_toml(root.joinpath("knowledge.toml"))
    base_version = meta.pop("version", None)
    if not isinstance(base_version, str) or meta:
        raise KnowledgeError("knowledge.toml: exactly one key, version (a string)")

    sources = _unique(
        (
            (sid, validated(Source, {"id": sid, **body}, f"sources.toml [{sid}]"))
            for sid, body in read_toml(root.joinpath("sources.toml")).items()
        ),
        "source",
    )
    populations = validated(
        Populations, read_toml(root.joinpath("populations.toml")), "populations.toml"
    )
    indications = _unique(
        (
            (d["id"], validated(IndicationDef, d, "indications.toml"))
            for d in sections(root, "indications.toml", "indication")
        ),
        "indication",
    )
    conditions = _unique(
        (
            (d["id"], validated(Condition, d, "conditions.toml"))
            for d in sections(root, "conditions.toml", "condition")
        ),
        "condition",
    )
    benzodiazepines = _unique(
        (
            (d["id"], validated(BenzodiazepineEntry, d, f"benzodiazepines.toml {d.get('id')}"))
            for d in sections(root, "benzodiazepines.toml", "benzodiazepine")
        ),
        "benzodiazepine",
    )
    classes = _unique(
        (
            (d["id"], validated(DepressantClass, d, f"depressants.toml {d.get('id')}"))
            for d in sections(root, "depressants.toml", "class")
        ),
        "depressant class",
    )
    monographs = _unique(
        (
            (m.id, m)
            for m in (
                validated(Monograph, read_toml(f), f"drugs/{f.name}") for f in _files(root, "drugs")
            )
        ),
        "monograph",
    )
    rules = _unique(
        (
            (r.id, r)
            for f in _files(root, "rules")
            for r in (
                validated(Rule, d, f"rules/{f.name} {d.get('id')}")
                for d in sections(root, f"rules/{f.name}", "rule")
            )
        ),
        "rule",
    )
    kb = KnowledgeBase(
        version=f"{base_version}+{digest.hexdigest()[:8]}",
        sources=sources,
        monographs=monographs,
        benzodiazepines=benzodiazepines,
        depressant_classes=classes,
        conditions=conditions,
        indications=indications,
        rules=rules,
        populations=populations,
    )
    kb._products_root = root  # read at first use (KnowledgeBase.products)
    validate(kb)
    return kb


def sections(root: Traversable, name: str, key: str) -> list[dict[str, Any]]:
    node = root
    for part in name.split("/"):
        node = node.joinpath(part)
    data = read_toml(node)
    items = data.pop(key, None)
    if data:
        raise KnowledgeError(f"{name}: unknown top-level keys {sorted(data)}")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise KnowledgeError(f"{name}: expected a list of [[{key}]] tables")
    return items


def validate(kb: KnowledgeBase) -> None:
    """Check every cross-reference inside a loaded knowledge base."""
    problems: list[str] = []
    for citation in citations(kb):
        if citation.ref not in kb.sources:
            problems.append(f"citation to unknown source {citation.ref!r}")
    for mono in kb.monographs.values():
        if mono.id not in kb.benzodiazepines:
            problems.append(f"monograph {mono.id!r} is not in the class table")
        for ind in mono.indications:
            if ind.id not in kb.indications:
                problems.append(f"monograph {mono.id!r}: unknown indication {ind.id!r}")
    for entry in kb.benzodiazepines.values():
        if entry.equivalence.used_mg is None and entry.equivalence.tables:
            problems.append(f"{entry.id}: equivalence tables given but no value used")
        if entry.rxnorm_ingredient and not entry.rxnorm_sources:
            problems.append(f"{entry.id}: an RxNorm code without a source")
    for cls in kb.depressant_classes.values():
        for ing in cls.ingredients:
            if ing.rxnorm_ingredient and not ing.rxnorm_sources:
                problems.append(f"{ing.id}: an RxNorm code without a source")
    seen: dict[tuple[str, str], str] = {}
    coded = [(i.id, c) for i in kb.indications.values() for c in i.codes]
    coded += [(d.id, c) for d in kb.conditions.values() for c in d.codes]
    for owner, code in coded:
        key = (code.system, code.code)
        if seen.setdefault(key, owner) != owner:
            problems.append(f"{code.system} {code.code} means both {seen[key]} and {owner}")
    for rule in kb.rules.values():
        where = f"rule {rule.id}"
        if rule.drug and rule.drug not in kb.benzodiazepines:
            problems.append(f"{where}: unknown drug {rule.drug!r}")
        for ind_id in rule.indications:
            if ind_id not in kb.indications:
                problems.append(f"{where}: unknown indication {ind_id!r}")
        for cond in rule.params.get("conditions", []):
            if cond not in kb.conditions:
                problems.append(f"{where}: unknown condition {cond!r}")
        for cls_id in rule.params.get("classes", []):
            if cls_id not in kb.depressant_classes:
                problems.append(f"{where}: unknown class {cls_id!r}")
        for ind_id in rule.params.get("exceptions", []):
            if ind_id not in kb.indications:
                problems.append(f"{where}: unknown indication {ind_id!r} among the exceptions")
        if rule.params.get("exception_severity", "info") not in ("info", "warning", "critical"):
            problems.append(f"{where}: exception_severity must be info, warning or critical")
        if not any(c.fires for c in rule.cases) or all(c.fires for c in rule.cases):
            problems.append(
                f"{where}: needs at least one case that fires and one that stays silent"
            )
    if problems:
        raise KnowledgeError("knowledge data is inconsistent:\n  " + "\n  ".join(problems))


def data_root() -> Traversable:
    """The packaged data folder; other knowledge modules load their own files from it."""
    return resources.files(_DATA)


def check_citations(obj: object, kb: KnowledgeBase, where: str) -> None:
    """Raise KnowledgeError when anything inside ``obj`` cites a source not in sources.toml."""
    unknown = sorted({c.ref for c in citations(obj) if c.ref not in kb.sources})
    if unknown:
        raise KnowledgeError(f"{where}: citations to unknown sources {unknown}")
