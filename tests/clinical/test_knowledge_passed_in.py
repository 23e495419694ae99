"""The clinical core follows the knowledge it is given, not knowledge it loads itself.

Each test runs the core on the packaged knowledge and on an altered copy of it, and checks
that the result follows the altered value (a taper's default pace and window bound, an
instrument's bands and the older-adult age, a triage level, a level-of-care dose band).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from benzosafe.clinical.instruments import score
from benzosafe.clinical.level_of_care import recommend_level_of_care
from benzosafe.clinical.taper import parse_taper_request, plan_taper
from benzosafe.clinical.triage import triage
from benzosafe.errors import InvalidInput
from benzosafe.knowledge import Knowledge, load
from benzosafe.knowledge.assessment import Instrument

KB = load()
REQUEST: dict[str, Any] = {
    "drug": "clonazepam",
    "dose": "2 mg/day",
    "split": "1 mg bid",
    "start": "2026-12-01",
    "forms": "tablet:0.5 odt:0.125",
}


def with_taper(**update: Any) -> Knowledge:
    return KB.model_copy(update={"taper": KB.taper.model_copy(update=update)})


def with_assessment(**update: Any) -> Knowledge:
    return KB.model_copy(update={"assessment": KB.assessment.model_copy(update=update)})


def with_instrument(inst: Instrument) -> Knowledge:
    return with_assessment(instruments={**KB.assessment.instruments, inst.id: inst})


def test_a_taper_follows_the_default_pace_it_is_given() -> None:
    pace = KB.taper.pace.model_copy(update={"percent": Decimal(5), "every_days": 28})
    slower = with_taper(pace=pace)
    request = parse_taper_request(slower, **REQUEST)
    assert request.strategy.kind == "percent" and request.strategy.percent == 5
    assert request.strategy.every_days == 28
    plan = plan_taper(request, slower)
    assert all(s.days == 28 for s in plan.steps[:3])
    pace_bound = next(b for b in plan.bounds if b.rule == "TAPER-PACE")
    assert pace_bound.text.startswith("Default pace 5% of the current dose every 28 days")
    usual = plan_taper(parse_taper_request(KB, **REQUEST), KB)
    assert usual.steps[1].start == usual.start + timedelta(days=14)
    assert plan.total_days > usual.total_days


def test_a_taper_keeps_to_the_window_bound_it_is_given() -> None:
    rule = KB.taper.rule("window-bound")
    tighter = rule.model_copy(update={"params": {**rule.params, "max_reduction_percent": "5"}})
    strict = with_taper(rules={**KB.taper.rules, rule.id: tighter})
    args = {**REQUEST, "reduce": "10%"}
    assert plan_taper(parse_taper_request(KB, **args), KB).steps[-1].kind == "stop"
    with pytest.raises(InvalidInput, match="the bound is 5% within any 14 days") as err:
        plan_taper(parse_taper_request(strict, **args), strict)
    assert err.value.field == "reduce"


def test_an_instrument_is_scored_with_the_bands_it_is_given() -> None:
    dsm5 = KB.assessment.instruments["dsm5"]
    first = dsm5.bands[0]
    bands = [
        first.model_copy(update={"low": 0, "high": 5, "label": "altered-low"}),
        first.model_copy(
            update={"low": 6, "high": 11, "label": "altered-high", "interpretation": "altered"}
        ),
    ]
    altered = with_instrument(dsm5.model_copy(update={"bands": bands}))
    four = [1] * 4 + [0] * 7
    assert score("dsm5", four, KB, medical_supervision=False).band == "moderate"
    assert score("dsm5", four, altered, medical_supervision=False).band == "altered-low"
    high = score("dsm5", [1] * 11, altered, medical_supervision=False)
    assert (high.band, high.interpretation) == ("altered-high", "altered")


def test_an_instrument_uses_the_cut_off_and_the_older_adult_age_it_is_given() -> None:
    sds = KB.assessment.instruments["sds"]
    bands = [  # the adult cut-off moves from 7 to 9
        b.model_copy(update={"high": 8})
        if (b.population, b.low) == ("adult", 0)
        else b.model_copy(update={"low": 9})
        if (b.population, b.low) == ("adult", 7)
        else b
        for b in sds.bands
    ]
    altered = with_instrument(sds.model_copy(update={"bands": bands}))
    seven = [3, 3, 1, 0, 0]
    usual = score("sds", seven, KB, age=40)
    assert usual.band == "likely-dependence"
    assert usual.cutoff is not None and usual.cutoff.startswith("7 or more")
    shifted = score("sds", seven, altered, age=40)
    assert shifted.band == "below-cutoff"
    assert shifted.cutoff is not None and shifted.cutoff.startswith("9 or more")
    older = KB.populations.older_adult.model_copy(update={"min_age_years": 70})
    later = KB.model_copy(
        update={"populations": KB.populations.model_copy(update={"older_adult": older})}
    )
    six = [3, 3, 0, 0, 0]
    assert score("sds", six, KB, age=66).band == "likely-dependence"  # older-adult cut-off 6
    assert score("sds", six, later, age=66).band == "below-cutoff"  # adult cut-off 7


def test_a_report_is_triaged_with_the_effects_it_is_given() -> None:
    data = KB.assessment.triage
    effects = [
        e.model_copy(update={"level": "self-care"}) if e.id == "skin-rash" else e
        for e in data.effect
    ]
    altered = with_assessment(triage=data.model_copy(update={"effect": effects}))
    assert triage(["skin rash"], KB).level == "urgent-same-day"
    assert triage(["skin rash"], altered).level == "self-care"


def test_a_level_of_care_uses_the_dose_bands_it_is_given() -> None:
    loc = KB.assessment.level_of_care
    per_drug = [
        b.model_copy(update={"low_max_mg": Decimal("0.25")}) if b.drug == "clonazepam" else b
        for b in loc.dose_bands.per_drug
    ]
    bands = loc.dose_bands.model_copy(update={"per_drug": per_drug})
    altered = with_assessment(level_of_care=loc.model_copy(update={"dose_bands": bands}))
    intake = {"drug": "clonazepam", "daily_dose": "0.5 mg/day"}
    assert recommend_level_of_care(intake, KB).dose_band == "low"
    assert recommend_level_of_care(intake, altered).dose_band == "moderate"
