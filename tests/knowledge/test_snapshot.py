"""The knowledge snapshot the command line's check reads: the same reports as the validated
knowledge on every rule's cases, read without pydantic, read-only, rebuilt when a data file
changes, a broken or foreign file ignored and rebuilt."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import benzosafe.knowledge
from benzosafe.clinical.check import check_raw
from benzosafe.knowledge import KnowledgeBase, load, load_from
from benzosafe.knowledge.snapshot import (
    Frozen,
    load_snapshot_from,
    read_snapshot,
    snapshot_bytes,
)

DATA = Path(benzosafe.knowledge.__file__).resolve().parent / "data"
KB = load()
SNAPSHOT = read_snapshot(snapshot_bytes(KB), str(DATA))
CASES = [
    pytest.param(case.order, case.patient, id=f"{rule.id}:{case.name}")
    for rule in KB.rules.values()
    for case in rule.cases
]


class Builds:
    """``load_from`` that counts how often the knowledge was really loaded and validated."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, root: str) -> KnowledgeBase:
        self.count += 1
        return load_from(Path(root))


@pytest.fixture
def data(tmp_path: Path) -> str:
    copy = tmp_path / "data"
    shutil.copytree(DATA, copy, ignore=shutil.ignore_patterns("products.json", "__pycache__"))
    return str(copy)


def test_the_snapshot_holds_plain_objects_with_the_same_fields() -> None:
    assert SNAPSHOT is not None
    assert isinstance(SNAPSHOT, Frozen)
    for name in KnowledgeBase.model_fields:
        assert getattr(SNAPSHOT, name) is not None, name
    rule = next(iter(SNAPSHOT.rules.values()))
    assert type(rule).__name__ == "Rule" and isinstance(rule, Frozen)
    assert rule.id == next(iter(KB.rules.values())).id
    assert SNAPSHOT.populations.adult.min_age_years == KB.populations.adult.min_age_years
    with pytest.raises(AttributeError, match="read-only"):
        rule.id = "X"  # type: ignore[misc]
    assert read_snapshot(snapshot_bytes(KB), str(DATA)) == SNAPSHOT


@pytest.mark.parametrize(("order", "patient"), CASES)
def test_every_rule_case_gives_the_same_report_on_the_snapshot(
    order: dict[str, object], patient: dict[str, object]
) -> None:
    assert SNAPSHOT is not None
    validated = check_raw(order, patient, KB).to_dict()
    assert check_raw(order, patient, SNAPSHOT).to_dict() == validated


def test_co_medications_read_the_product_index_from_the_snapshot() -> None:
    assert SNAPSHOT is not None
    order = {"drug": "Klonopin", "dose": "1 mg", "frequency": "bid",
             "indication": "panic-disorder", "start": "2026-12-01"}  # fmt: skip
    patient = {"age": 50, "also_taking": ["oxycodone 10 mg qid", "Ambien 10 mg"]}
    report = check_raw(order, patient, SNAPSHOT).to_dict()
    assert report == check_raw(order, patient, KB).to_dict()
    assert {f["code"] for f in report["findings"]} >= {"concurrent-opioid"}


def test_a_snapshot_is_rebuilt_when_a_data_file_changes(data: str, tmp_path: Path) -> None:
    folder, builds = str(tmp_path / "cache"), Builds()
    first = load_snapshot_from(data, folder, builds)
    assert builds.count == 1 and not isinstance(first, Frozen)  # the validated knowledge
    again = load_snapshot_from(data, folder, builds)
    assert builds.count == 1 and isinstance(again, Frozen)
    assert again.version == first.version and again.rules.keys() == first.rules.keys()
    rules = Path(data) / "rules" / "safety.toml"
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# reviewed\n", encoding="utf-8")
    changed = load_snapshot_from(data, folder, builds)
    assert builds.count == 2 and changed.version != first.version
    assert len(os.listdir(folder)) == 2


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"benzosafe-knowledge-snapshot/1\n" + b"\x80\x05truncated",
        b"benzosafe-knowledge-snapshot/1\n" + pickle.dumps({"version": "x"}),
        b"benzosafe-knowledge-snapshot/1\n" + pickle.dumps(os.getpid),  # a callable: refused
        b"benzosafe-knowledge-cache/1\n" + pickle.dumps(KB),  # the other cache's format
    ],
)
def test_a_broken_or_foreign_snapshot_is_ignored_and_rebuilt(
    data: str, tmp_path: Path, content: bytes
) -> None:
    folder, builds = tmp_path / "cache", Builds()
    load_snapshot_from(data, str(folder), builds)
    (path,) = folder.iterdir()
    path.write_bytes(content)
    assert read_snapshot(content, data) is None
    assert not isinstance(load_snapshot_from(data, str(folder), builds), Frozen)
    assert builds.count == 2
    assert isinstance(load_snapshot_from(data, str(folder), builds), Frozen)  # written anew


_NO_PYDANTIC = """
import sys
from benzosafe.clinical.check import check_raw
from benzosafe.knowledge.snapshot import load_snapshot
kb = load_snapshot()
report = check_raw({"drug": "clonazepam", "dose": "0.5 mg", "frequency": "bid",
                    "indication": "panic-disorder", "start": "2026-12-01"}, {"age": 40}, kb)
print(type(kb).__name__, len(report.findings) >= 0,
      sorted(m for m in sys.modules if m.split(".")[0] == "pydantic"))
"""


def test_a_check_from_the_snapshot_imports_no_pydantic(tmp_path: Path) -> None:
    env = {**os.environ, "BENZOSAFE_CACHE_DIR": str(tmp_path / "cache")}
    run = [sys.executable, "-c", _NO_PYDANTIC]
    first = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Knowledge True")  # validated, the snapshot written
    second = subprocess.run(run, capture_output=True, text=True, env=env, timeout=120)
    assert second.stdout == "KnowledgeBaseSnapshot True []\n", second.stderr
