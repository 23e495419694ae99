"""Every rule's own cases: those that must fire fire, those that must stay silent stay silent."""

from __future__ import annotations

import pytest

from benzosafe.clinical.check import FINDING_CODES, NOT_EVALUATED_KINDS, check_raw
from benzosafe.clinical.findings import Finding, NotEvaluated
from benzosafe.knowledge import load
from benzosafe.knowledge.models import Rule, RuleCase

KB = load()
CASES = [
    pytest.param(rule, case, id=f"{rule.id}:{'fires' if case.fires else 'silent'}:{case.name}")
    for rule in KB.rules.values()
    for case in rule.cases
]


@pytest.mark.parametrize(("rule", "case"), CASES)
def test_rule_case(rule: Rule, case: RuleCase) -> None:
    report = check_raw(case.order, case.patient, KB)
    reported: list[NotEvaluated] | list[Finding]
    if rule.kind in NOT_EVALUATED_KINDS:
        reported = [n for n in report.not_evaluated if n.rule == rule.id]
    else:
        reported = [f for f in report.findings if f.rule == rule.id]
    assert bool(reported) is case.fires, report.to_dict()
    for finding in report.findings:
        assert len(finding.summary) < 140
        assert finding.sources, finding


def test_every_rule_has_both_kinds_of_case() -> None:
    for rule in KB.rules.values():
        assert any(c.fires for c in rule.cases), rule.id
        assert any(not c.fires for c in rule.cases), rule.id


def test_every_rule_code_is_a_public_finding_code() -> None:
    assert {r.code for r in KB.rules.values()} <= set(FINDING_CODES)
    assert set(FINDING_CODES) <= {r.code for r in KB.rules.values()}
