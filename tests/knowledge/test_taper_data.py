"""The taper knowledge loads, every rule has cited cases that fire and stay silent, and
broken taper data is refused."""

from __future__ import annotations

from typing import Any

import pytest

from benzosafe.clinical.taper import rule_fires
from benzosafe.errors import KnowledgeError
from benzosafe.knowledge import data_root, load, read_toml
from benzosafe.knowledge.taper import parse_taper

KB = load()
TAPER = KB.taper
CASES = [
    pytest.param(rule, case, id=f"{rule.id}: {case.name}")
    for rule in TAPER.rules.values()
    for case in rule.cases
]


@pytest.mark.parametrize(("rule", "case"), CASES)
def test_rule_case(rule: Any, case: Any) -> None:
    assert rule_fires(rule, case.input, KB) is case.fires


def test_numbers_are_the_project_decisions() -> None:
    assert TAPER.pace.percent == 10 and TAPER.pace.every_days == 14
    bound = TAPER.rule("window-bound").params
    assert (bound["max_reduction_percent"], bound["window_days"]) == ("25", 14)
    assert TAPER.switch.total_days == 14
    assert TAPER.adjust.default_action == "hold"


def _raw() -> dict[str, Any]:
    return read_toml(data_root().joinpath("taper.toml"))


def test_rule_without_citation_does_not_load() -> None:
    raw = _raw()
    raw["rule"][0]["sources"] = []
    with pytest.raises(KnowledgeError, match="sources"):
        parse_taper(raw)


def test_unknown_key_is_an_error() -> None:
    raw = _raw()
    raw["pace"]["speed"] = "fast"
    with pytest.raises(KnowledgeError, match="speed"):
        parse_taper(raw)


def test_rule_with_only_firing_cases_is_an_error() -> None:
    raw = _raw()
    raw["rule"][0]["cases"] = [c for c in raw["rule"][0]["cases"] if c["fires"]]
    with pytest.raises(KnowledgeError, match="stays silent"):
        parse_taper(raw)
