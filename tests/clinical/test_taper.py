"""The taper planner: worked examples, holds and slowing, bad input, and invariants
(Hypothesis) over drugs, doses, strategies and forms."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from taper_support import assert_invariants

from benzosafe.clinical.taper import (
    TIMES,
    DoseForm,
    Strategy,
    TaperPlan,
    TaperRequest,
    adjust_plan,
    parse_forms,
    parse_steps_csv,
    parse_taper_request,
    plan_taper,
)
from benzosafe.errors import BenzosafeError, InvalidInput, PlanInfeasible, UnitError, UnknownDrug
from benzosafe.knowledge import load

D = Decimal
X = TIMES  # the multiplication sign used in "1 x 0.5 mg tablet"
START = "2026-12-01"
KB = load()


def plan(**kwargs: object) -> TaperPlan:
    args: dict[str, object] = {
        "drug": "clonazepam",
        "dose": "2 mg/day",
        "split": "1 mg bid",
        "start": START,
        "forms": "tablet:0.5 odt:0.125",
    }
    args.update(kwargs)
    return plan_taper(parse_taper_request(KB, **args), KB)  # type: ignore[arg-type]


def doses(p: TaperPlan) -> list[Decimal]:
    return [s.daily_dose_mg for s in p.steps]


# ------------------------------------------------------------------ worked examples


def test_two_mg_at_ten_percent_every_two_weeks_with_scored_tablets_and_odt() -> None:
    p = plan(reduce="10%", every="14d")
    assert_invariants(p)
    assert doses(p)[:5] == [D(2), D("1.875"), D("1.75"), D("1.625"), D("1.5")]
    assert doses(p)[-4:] == [D("0.375"), D("0.25"), D("0.125"), D(0)]
    second = p.steps[1]
    assert (second.start, second.end) == (date(2026, 12, 15), date(2026, 12, 28))
    morning = second.administrations[0]
    assert (morning.time, morning.take_text) == (
        "morning",
        f"1½ {X} 0.5 mg tablet + 1 {X} 0.125 mg ODT",
    )
    assert second.administrations[1].take_text == f"2 {X} 0.5 mg tablet"
    # 10% off 2 mg is 1.8 mg, not makeable: 1.875 mg is the nearest dose, no larger cut
    assert "1.8 mg/day is not makeable" in second.notes[0]
    # dispensing: 14 days of 1.5 + 2 tablets and 14 ODT
    assert {d.text for d in second.dispensing} == {
        f"49 {X} clonazepam 0.5 mg tablet (scored)",
        f"14 {X} clonazepam 0.125 mg ODT",
    }
    assert second.diazepam_equivalent_mg == D("37.5")
    tails = [f for f in p.findings if f.rule == "TAPER-LOW-DOSE-TAIL"]
    assert len(tails) == 3 and all(f.severity == "warning" for f in tails)
    # a tail step is kept long enough to stay within the bound's average pace
    assert p.steps[-3].days == 28 and p.steps[-2].days == 28
    assert p.steps[-2].administrations[0].time == "night"  # the last dose to go is at night
    assert p.total_days == (p.steps[-1].start - p.start).days
    assert p.equivalence_table == "ashton"


def test_plan_via_diazepam_substitutes_one_dose_time_at_a_time() -> None:
    p = plan(dose="1 mg/day", split="0.5 mg bid", via="diazepam", via_forms="tablet:2s,5s,10s")
    assert_invariants(p)
    start, first, second = p.steps[:3]
    assert [a.drug for a in start.administrations] == ["clonazepam", "clonazepam"]
    assert first.kind == "switch" and [a.drug for a in first.administrations] == [
        "diazepam",
        "clonazepam",
    ]
    assert first.administrations[0].dose_mg == 10  # Ashton: 0.5 mg clonazepam = 10 mg diazepam
    assert second.kind == "switch" and second.drugs == ("diazepam",)
    assert first.days + second.days == 14  # over 1-2 weeks (J1 p7, p18)
    assert {s.diazepam_equivalent_mg for s in p.steps[:3]} == {D(20)}
    assert p.steps[3].daily_dose_by_drug_mg == {"diazepam": D(18)}
    assert "by the ashton table" in p.equivalence_note and "va-dod table 1 mg" in p.equivalence_note
    assert p.steps[-1].kind == "stop"


def test_liquid_micro_taper() -> None:
    p = plan(dose="0.5 mg/day", split="0.5 mg qhs", forms=None, liquid="0.1 mg/mL step 0.1 mL")
    assert_invariants(p)
    assert doses(p)[:4] == [D("0.5"), D("0.45"), D("0.41"), D("0.37")]
    assert p.steps[1].administrations[0].take_text == "4.5 mL of 0.1 mg/mL oral liquid"
    assert p.steps[1].dispensing[0].volume_ml == D("63")
    assert doses(p)[-2] == D("0.01")


def test_hold_inserted_mid_way_repeats_the_current_step_and_shifts_the_rest() -> None:
    p = plan()
    on = p.steps[5].start + timedelta(days=3)
    held = adjust_plan(
        p, KB, on=on, reason="rebound insomnia", by="Dr Lee", tolerability="poor sleep"
    )
    assert_invariants(held)
    assert held.steps[6].kind == "hold"
    assert held.steps[6].daily_dose_mg == held.steps[5].daily_dose_mg
    assert held.steps[6].days == p.steps[5].days
    assert held.steps[7].start == p.steps[6].start + timedelta(days=p.steps[5].days)
    assert held.total_days == p.total_days + p.steps[5].days
    assert [v.version for v in held.history] == [1, 2]
    assert (held.history[1].by, held.history[1].action) == ("Dr Lee", "hold")
    assert p.version == 1 and held.version == 2  # the original plan is unchanged


def test_slow_lengthens_remaining_steps_and_never_speeds_up() -> None:
    p = plan()
    on = p.steps[3].start
    slowed = adjust_plan(
        p, KB, on=on, reason="CIWA-B rising", by="Dr Lee", ciwa_b_score=22, action="slow",
        slow_every_days=28,
    )  # fmt: skip
    assert_invariants(slowed)
    assert all(s.days >= 28 for s in slowed.steps if s.start > on and s.kind != "stop")
    assert slowed.history[-1].ciwa_b_score == 22
    with pytest.raises(InvalidInput) as err:
        adjust_plan(
            p, KB, on=on, reason="r", by="x", tolerability="ok", action="slow", slow_every_days=7
        )
    assert err.value.field == "slow_every_days"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"reason": " "}, "reason"),
        ({"tolerability": None}, "ciwa_b_score"),
        ({"on": date(2026, 11, 1)}, "on"),
        ({"hold_days": 0}, "hold_days"),
    ],
)
def test_bad_adjustment(kwargs: dict[str, object], field: str) -> None:
    p = plan()
    args: dict[str, object] = {
        "on": p.steps[2].start, "reason": "anxiety", "by": "Dr Lee", "tolerability": "hard",
    }  # fmt: skip
    args.update(kwargs)
    with pytest.raises(InvalidInput) as err:
        adjust_plan(p, KB, **args)  # type: ignore[arg-type]
    assert err.value.field == field


def test_fixed_amount_warns_when_the_cut_becomes_a_large_share() -> None:
    p = plan(reduce_by="0.25 mg")
    assert_invariants(p)
    assert any(f.rule == "TAPER-FIXED-SHARE" for f in p.findings)
    cuts = [(a.daily_dose_mg - b.daily_dose_mg) / a.daily_dose_mg for a, b in pairwise(p.steps)]
    assert max(cuts[:-3]) <= D("0.25")


def test_clinician_steps_checked_against_the_same_bounds() -> None:
    csv = (
        "daily_dose,days\n2 mg,14\n1.75 mg,14\n1.5 mg,14\n1.25 mg,14\n1 mg,14\n0.875 mg,14\n"
        "0.75 mg,14\n0.625 mg,14\n0.5 mg,14\n0.375 mg,28\n0.25 mg,28\n0.125 mg,28\n0 mg,1\n"
    )
    p = plan(steps_csv=csv)
    assert_invariants(p)
    assert doses(p)[:3] == [D(2), D("1.75"), D("1.5")]
    bad = csv.replace("1.5 mg,14\n1.25 mg", "1.5 mg,14\n1 mg")
    with pytest.raises(InvalidInput) as err:
        plan(steps_csv=bad)
    assert err.value.field == "steps[4]" and "bound" in str(err.value)
    with pytest.raises(InvalidInput) as err:
        plan(steps_csv="daily_dose,days\n2 mg,14\n1.8 mg,14\n0 mg,1\n")
    assert err.value.field == "steps[2]" and "cannot be made" in str(err.value)
    with pytest.raises(InvalidInput) as err:
        plan(steps_csv="daily_dose,days\n2 mg,14\n1.75 mg,14\n")
    assert err.value.field == "steps[2]"


def test_label_panic_schedule_is_a_short_course_with_a_warning() -> None:
    p = plan(dose="1 mg/day", split="0.5 mg bid", label_panic=True)
    assert_invariants(p)
    assert doses(p) == [D(1), D("0.75"), D("0.5"), D("0.25"), D(0)]
    assert all(s.days == 3 for s in p.steps[1:-1])
    assert any(f.rule == "TAPER-LABEL-PANIC-SHORT" for f in p.findings)


def test_override_allows_a_faster_plan_and_is_recorded() -> None:
    with pytest.raises(InvalidInput) as err:
        plan(reduce="30%")
    assert err.value.field == "reduce"
    p = plan(reduce="30%", override_reason="inpatient, supervised daily")
    assert p.override_reason == "inpatient, supervised daily"
    assert any("override" in b.text.lower() for b in p.bounds)
    assert any("clinician override" in n for s in p.steps for n in s.notes)


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"dose": "2"}, UnitError, "dose"),
        ({"dose": "2 mg"}, UnitError, "dose"),
        ({"drug": "klonopinx"}, UnknownDrug, "drug"),
        ({"split": "0.5 mg bid"}, InvalidInput, "split"),
        ({"split": "1 mg morning, 1 mg noonish"}, InvalidInput, "split"),
        ({"forms": "tablet:2", "split": "1 mg bid"}, InvalidInput, "split"),
        ({"forms": "tablet:0.3"}, InvalidInput, "forms"),
        ({"forms": "tablet:1s"}, InvalidInput, "forms"),
        ({"reduce": "30%"}, InvalidInput, "reduce"),
        ({"reduce": "10%", "every": "3d"}, InvalidInput, "reduce"),
        ({"reduce_by": "0.75 mg"}, InvalidInput, "reduce_by"),
        ({"reduce": "10", "every": "14d"}, InvalidInput, "reduce"),
        ({"every": "fortnight"}, InvalidInput, "every"),
        ({"start": "1 Dec"}, InvalidInput, "start"),
        ({"reduce": "10%", "reduce_by": "0.25 mg"}, InvalidInput, "reduce_by"),
        ({"via": "diazepam"}, InvalidInput, "via_forms"),
        ({"via": "lorazepam", "via_forms": "tablet:1"}, InvalidInput, "via"),
        ({"drug": "lorazepam", "forms": None}, InvalidInput, "forms"),
        ({"forms": "tablet:0.5", "liquid": "0.1 mg/mL step 0.1 mL"}, InvalidInput, "liquid"),
        ({"forms": None, "liquid": "0.1 mg step 0.1 mL"}, UnitError, "liquid"),
    ],
)
def test_bad_input_names_the_field(
    kwargs: dict[str, object], error: type[BenzosafeError], field: str
) -> None:
    with pytest.raises(error) as err:
        plan(**kwargs)
    assert err.value.field == field


def test_forms_too_coarse_above_the_low_band_are_refused() -> None:
    with pytest.raises(PlanInfeasible, match="forms: from 2 mg/day"):
        plan(split="2 mg qhs", forms="tablet:2")


# ------------------------------------------------------------------ invariants


DRUGS = sorted(d for d, e in KB.benzodiazepines.items() if e.equivalence.used_mg is not None)


@st.composite
def requests(draw: st.DrawFn) -> TaperRequest:
    drug = draw(st.sampled_from(DRUGS))
    used = KB.benzodiazepines[drug].equivalence.used_mg
    assert used is not None
    liquid = drug == "clonazepam" and draw(st.booleans())
    if drug == "clonazepam" and not liquid:
        forms = parse_forms(
            draw(
                st.sampled_from(
                    ["tablet:0.5 odt:0.125", "odt:0.125,0.25,1", "tablet:0.5,1,2 odt:0.125"]
                )
            ),
            drug,
            KB,
        )
        base = D("0.125")
    elif liquid:
        forms = (DoseForm(drug, "liquid", D("0.1"), step_ml=D("0.1")),)
        base = D("0.01")
    else:
        base = used / 4  # 2.5 mg diazepam-equivalent: within the low band
        scored = draw(st.booleans())
        forms = (
            DoseForm(drug, "tablet", base * (2 if scored else 1), scored=scored),
            DoseForm(drug, "tablet", base * 4),
        )
    times = draw(
        st.sampled_from([("night",), ("morning", "night"), ("morning", "afternoon", "night")])
    )
    units = draw(
        st.lists(
            st.integers(1, 12 if base >= D("0.1") else 60), min_size=len(times), max_size=len(times)
        )
    )
    split = tuple((t, base * n) for t, n in zip(times, units, strict=True))
    daily = sum((mg for _, mg in split), D(0))
    if draw(st.booleans()):
        pct = draw(st.sampled_from([D(5), D(10), D(20), D(25)]))
        every = draw(st.sampled_from([14, 21, 28]))
        strategy = Strategy("percent", every, percent=pct)
    else:
        amount = base * draw(st.integers(1, 3))
        if amount > daily / 4:
            amount = base
        strategy = Strategy("amount", 14, amount_mg=amount)
        if amount > daily / 4:
            strategy = Strategy("percent", 14, percent=D(10))
    via = None
    via_forms: tuple[DoseForm, ...] = ()
    if drug != "diazepam" and not liquid and draw(st.booleans()):
        via = "diazepam"
        via_forms = (
            DoseForm("diazepam", "tablet", D(2), scored=True),
            DoseForm("diazepam", "tablet", D(5), scored=True),
        )
    start = date(2026, 1, 1) + timedelta(days=draw(st.integers(0, 365)))
    return TaperRequest(drug, daily, split, start, strategy, forms, via, via_forms)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.data())
def test_plan_invariants(request: TaperRequest, data: st.DataObject) -> None:
    p = plan_taper(request, KB)
    assert_invariants(p)
    assert p.steps[0].daily_dose_mg == request.daily_dose_mg
    # an adjustment keeps every invariant and only ever adds days
    on = p.start + timedelta(days=data.draw(st.integers(0, p.total_days - 1)))
    if data.draw(st.booleans()):
        q = adjust_plan(p, KB, on=on, reason="symptoms", by="test", tolerability="hard")
    else:
        q = adjust_plan(
            p,
            KB,
            on=on,
            reason="symptoms",
            by="test",
            ciwa_b_score=10,
            action="hold",
            hold_days=data.draw(st.integers(1, 30)),
        )
    assert_invariants(q)
    assert q.total_days > p.total_days
    assert [s.daily_dose_mg for s in q.steps if s.kind != "hold"] == [
        s.daily_dose_mg for s in p.steps
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_a_plan_re_entered_as_clinician_steps_is_accepted_unchanged(request: TaperRequest) -> None:
    if request.via is not None:
        request = replace(request, via=None, via_forms=())
    p = plan_taper(request, KB)
    rows = "".join(f"{s.daily_dose_mg} mg,{s.days}\n" for s in p.steps)
    again = plan_taper(
        replace(
            request,
            strategy=Strategy("steps", 14, steps=parse_steps_csv("daily_dose,days\n" + rows)),
        ),
        KB,
    )
    assert_invariants(again)
    assert [(s.start, s.end, s.daily_dose_mg) for s in again.steps] == [
        (s.start, s.end, s.daily_dose_mg) for s in p.steps
    ]


def test_one_product_per_administration_where_the_forms_allow_and_why_not() -> None:
    # with a 0.25 mg ODT too, 0.875 mg was 0.5 mg tablet + 0.25 mg ODT + 0.125 mg ODT (#18)
    p = plan(reduce="10%", every="14d", forms="tablet:0.5 odt:0.125,0.25")
    assert_invariants(p)
    for step in p.steps:
        for adm in step.administrations:
            products = {t.form for t in adm.takes}
            assert len(products) <= 2, adm.take_text
            if len(products) == 2:
                assert any(n.startswith(f"{adm.time}: ") and "products" in n for n in step.notes)
    morning = p.steps[1].administrations[0]
    assert morning.take_text == f"1½ {X} 0.5 mg tablet + 1 {X} 0.125 mg ODT"
    assert (
        "morning: 0.875 mg takes 2 products in 3 pieces because one product alone would need "
        f"more pieces (7 {X} 0.125 mg ODT)"
    ) in p.steps[1].notes
    # 0.75 mg in two pieces: 1½ scored tablets (one product), not a tablet and an ODT
    q = plan(dose="1.5 mg/day", split="0.75 mg bid", forms="tablet:0.5 odt:0.25,0.125")
    assert q.steps[0].administrations[0].take_text == f"1½ {X} 0.5 mg tablet"
    assert not any("products" in n for n in q.steps[0].notes)
