"""The validated knowledge kept on disk by content hash: the same knowledge as a fresh load,
rebuilt when any data file changes, a broken or foreign cache file ignored and rebuilt, a cache
folder that cannot be written skipped, and the command line working either way."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from importlib.abc import Traversable
from pathlib import Path

import pytest

import benzosafe.knowledge
from benzosafe.knowledge import Knowledge, load_from
from benzosafe.knowledge.cache import load_cached

DATA = Path(benzosafe.knowledge.__file__).resolve().parent / "data"


class Builds:
    """``load_from`` that counts how often the knowledge was really loaded and validated."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, root: Traversable) -> Knowledge:
        self.count += 1
        return load_from(root)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    copy = tmp_path / "data"
    shutil.copytree(DATA, copy, ignore=shutil.ignore_patterns("products.json", "__pycache__"))
    return copy


def test_cached_is_the_same_knowledge_and_rebuilt_when_a_file_changes(
    data: Path, tmp_path: Path
) -> None:
    cache, builds = tmp_path / "cache", Builds()
    first = load_cached(data, builds, cache)
    assert builds.count == 1 and len(list(cache.iterdir())) == 1
    again = load_cached(data, builds, cache)
    assert builds.count == 1  # read from the cache file
    assert again == first and again.version == first.version
    assert again.rules.keys() == first.rules.keys()
    # one rule file changes: a new key, the knowledge loaded and validated again
    rules = data / "rules" / "safety.toml"
    rules.write_text(rules.read_text(encoding="utf-8") + "\n# reviewed\n", encoding="utf-8")
    changed = load_cached(data, builds, cache)
    assert builds.count == 2 and len(list(cache.iterdir())) == 2
    assert changed.version != first.version  # the version names the content
    load_cached(data, builds, cache)
    assert builds.count == 2


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a cache file",
        b"benzosafe-knowledge-cache/1\n" + b"\x80\x05truncated",
        b"benzosafe-knowledge-cache/1\n" + pickle.dumps({"version": "x"}),
        b"benzosafe-knowledge-cache/1\n" + pickle.dumps(os.getpid),  # a callable: refused
    ],
)
def test_a_broken_or_foreign_cache_file_is_ignored_and_rebuilt(
    data: Path, tmp_path: Path, content: bytes
) -> None:
    cache, builds = tmp_path / "cache", Builds()
    fresh = load_cached(data, builds, cache)
    (path,) = cache.iterdir()
    path.write_bytes(content)
    assert load_cached(data, builds, cache) == fresh
    assert builds.count == 2
    load_cached(data, builds, cache)  # and the file was written anew
    assert builds.count == 2


def test_a_folder_that_cannot_be_written_is_skipped(data: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    builds = Builds()
    assert load_cached(data, builds, blocked / "cache").version.startswith("2")
    assert load_cached(data, builds, blocked / "cache") is not None
    assert builds.count == 2  # nothing kept, nothing broken


CHECK = ["check", "--drug", "clonazepam", "--dose", "0.5 mg", "--frequency", "bid",
         "--indication", "panic-disorder", "--age", "40", "--start", "2026-12-01",
         "--also-taking", "oxycodone 10 mg qid", "--json"]  # fmt: skip


def run_check(cache: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BENZOSAFE_CACHE_DIR": cache}
    return subprocess.run([sys.executable, "-m", "benzosafe", *CHECK], capture_output=True,
                          text=True, timeout=120, env=env)  # fmt: skip


def test_the_command_line_with_and_without_a_usable_cache(tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    uncached = run_check("off")
    assert uncached.returncode == 1 and uncached.stderr == ""  # a warning: exit 1
    report = json.loads(uncached.stdout)
    for cache in (str(tmp_path / "cache"), str(tmp_path / "cache"), str(blocked)):
        result = run_check(cache)
        assert result.returncode == 1 and result.stderr == ""
        assert json.loads(result.stdout) == report
    # the validated knowledge and the snapshot the check reads, under one content key
    kept = sorted(p.name.split("-")[0] for p in (tmp_path / "cache").iterdir())
    assert kept == ["knowledge", "snapshot"]
    assert len({p.name.split("-")[1] for p in (tmp_path / "cache").iterdir()}) == 1
    assert any(f["code"] for f in report["findings"])
