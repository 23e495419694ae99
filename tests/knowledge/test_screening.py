"""The screening measures load, are cited, and broken measure data is refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from benzosafe.errors import KnowledgeError
from benzosafe.knowledge import load
from benzosafe.knowledge.screening import load_screening_from

DATA = Path(__file__).resolve().parents[2] / "src" / "benzosafe" / "knowledge" / "data"


def test_every_measure_is_cited_and_has_cases() -> None:
    kb = load()
    for m in load().screening.measure:
        assert m.sources and all(c.ref in kb.sources for c in m.sources)
        assert any(c.fires for c in m.cases) and not all(c.fires for c in m.cases)
        assert (m.status == "draft") == bool(m.draft_reason)


def _broken(tmp_path: Path, old: str, new: str) -> Path:
    target = tmp_path / "data"
    shutil.copytree(DATA, target)
    path = target / "screening.toml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return target


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("min_overlap_days = 30", "min_overlap_days = 30\nsurprise = 1", "surprise"),
        ('ref = "PQA1"', 'ref = "NOPE"', "NOPE"),
        ('status = "draft"\ndraft_reason', 'status = "cited"\ndraft_reason', "draft"),
        ("window_days = 90", 'window_days = "ninety"', "window_days"),
        (
            'previous_fill = "same-ingredient"',
            'previous_fill = "any-benzodiazepine"',
            "previous_fill",
        ),
        ("min_supply_elapsed_pct = 75", "min_supply_elapsed_pct = 175", "min_supply_elapsed_pct"),
        (
            'exclude_ingredients = ["buprenorphine"]',
            'exclude_ingredients = ["buprenorfine"]',
            "buprenorfine",
        ),
    ],
)
def test_broken_screening_data_is_refused(tmp_path: Path, old: str, new: str, message: str) -> None:
    root = _broken(tmp_path, old, new)
    with pytest.raises(KnowledgeError, match=message):
        load_screening_from(root, load())
