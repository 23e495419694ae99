"""docs/rules.md is generated from the knowledge data and must not go stale."""

from __future__ import annotations

from pathlib import Path

from benzosafe.exports.rule_catalogue import rules_markdown
from benzosafe.knowledge import load

RULES_MD = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def test_rules_catalogue_is_current() -> None:
    expected = rules_markdown(load())
    assert RULES_MD.read_text(encoding="utf-8") == expected, "docs/rules.md is stale: run make docs"


def test_catalogue_lists_every_rule_and_says_it_supports_judgement() -> None:
    text = RULES_MD.read_text(encoding="utf-8")
    for rule_id in load().rules:
        assert f"### {rule_id} " in text
    assert "supports, never replaces, clinical" in text
