"""Shared checks of plan invariants for the taper tests."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

from benzosafe.clinical.taper import TaperPlan, daily_series, window_violations
from benzosafe.knowledge import load


def assert_invariants(plan: TaperPlan) -> None:
    """Contiguous dates, never increasing, within the bound, makeable doses, ends at zero."""
    steps = plan.steps
    assert steps[0].start == plan.start
    for before, after in pairwise(steps):
        assert after.start == before.end + timedelta(days=1)
        assert after.diazepam_equivalent_mg <= before.diazepam_equivalent_mg
    assert steps[-1].kind == "stop" and steps[-1].daily_dose_mg == 0
    assert all(s.daily_dose_mg > 0 for s in steps[:-1])
    forms = set(plan.forms) | set(plan.via_forms)
    for s in steps:
        assert s.start <= s.end
        for a in s.administrations:
            assert sum((t.mg for t in a.takes), Decimal(0)) == a.dose_mg
            for t in a.takes:
                assert t.form in forms
                if t.form.form == "liquid":
                    assert t.form.step_ml is not None
                    assert (t.volume_ml / t.form.step_ml) % 1 == 0
                elif t.form.scored:
                    assert (t.count * 2) % 1 == 0 and t.count > 0
                else:
                    assert t.count % 1 == 0 and t.count > 0
    rule = load().taper.rule("window-bound")
    fraction = Decimal(rule.params["max_reduction_percent"]) / 100
    series = daily_series(plan)
    bad = window_violations([de for _, _, de, _ in series], fraction, rule.params["window_days"])
    if plan.override_reason is None and plan.strategy.kind != "label-panic":
        tail_starts = {
            s.start
            for s in steps
            if s.kind == "stop" or any(n.startswith("low-dose step") for n in s.notes)
        }
        for day_index in bad:
            day = series[day_index][0]
            assert any(
                day - timedelta(days=k) in tail_starts for k in range(rule.params["window_days"])
            ), f"bound broken on {day} outside a low-dose tail step"
