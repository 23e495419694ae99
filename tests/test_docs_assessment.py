"""docs/assessment.md is generated from the assessment data and must not go stale."""

from __future__ import annotations

from pathlib import Path

from benzosafe.exports.assessment_catalogue import assessment_markdown
from benzosafe.knowledge import load

ASSESSMENT_MD = Path(__file__).resolve().parents[1] / "docs" / "assessment.md"


def test_assessment_catalogue_is_current() -> None:
    expected = assessment_markdown(load(), load().assessment)
    assert ASSESSMENT_MD.read_text(encoding="utf-8") == expected, "stale: run make docs"


def test_catalogue_lists_every_instrument_effect_and_rule() -> None:
    text = ASSESSMENT_MD.read_text(encoding="utf-8")
    data = load().assessment
    for inst in data.instruments:
        assert f"### {inst}: " in text
    for rule in data.level_of_care.rule:
        assert f"### {rule.id} (v{rule.version})" in text
    for effect in data.triage.effect:
        assert f"| {effect.name} |" in text
    assert "draft because" in text
