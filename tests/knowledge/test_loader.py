"""The knowledge data loads, and broken data is refused with a clear error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benzosafe.errors import KnowledgeError
from benzosafe.knowledge import load, load_from

DATA = Path(__file__).resolve().parents[2] / "src" / "benzosafe" / "knowledge" / "data"


def test_packaged_knowledge_loads() -> None:
    kb = load()
    assert kb.version.startswith("2026.")
    assert "clonazepam" in kb.monographs
    assert kb.benzodiazepines["clonazepam"].schedule.dea_schedule == "IV"
    assert kb.benzodiazepines["clonazepam"].equivalence.used_mg is not None


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    return target


def test_unknown_key_is_an_error(tmp_path: Path) -> None:
    data = _copy(tmp_path)
    path = data / "populations.toml"
    path.write_text(path.read_text() + '\n[surprise]\nx = "1"\n')
    with pytest.raises(KnowledgeError, match="surprise"):
        load_from(data)


def test_citation_to_unknown_source_is_an_error(tmp_path: Path) -> None:
    data = _copy(tmp_path)
    path = data / "rules" / "csa.toml"
    path.write_text(path.read_text().replace('ref = "C2"', 'ref = "NOPE"', 1))
    with pytest.raises(KnowledgeError, match="NOPE"):
        load_from(data)


def test_rule_without_citation_does_not_load(tmp_path: Path) -> None:
    data = _copy(tmp_path)
    path = data / "rules" / "csa.toml"
    text = path.read_text().replace(
        'sources = [{ ref = "C2", section = "21 CFR 1306.22(a)" }]\n', "sources = []\n", 1
    )
    path.write_text(text)
    with pytest.raises(KnowledgeError, match="sources"):
        load_from(data)
