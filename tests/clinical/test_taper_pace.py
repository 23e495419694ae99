"""The starting-pace warning (issue #16): a plan faster than the guideline's starting pace
warns in the plan, citing it; the 25%-within-14-days bound stays the hard limit."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from benzosafe.clinical.taper import TaperPlan, parse_taper_request, plan_taper
from benzosafe.errors import InvalidInput
from benzosafe.exports.taper_data import plan_to_dict
from benzosafe.exports.taper_pdf import plan_to_pdf
from benzosafe.knowledge import load

KB = load()
CODE = "taper-faster-than-starting-pace"


def plan(**kwargs: object) -> TaperPlan:
    args: dict[str, object] = {
        "drug": "clonazepam",
        "dose": "2 mg/day",
        "split": "1 mg bid",
        "start": "2026-12-01",
        "forms": "tablet:0.5 odt:0.125",
    }
    args.update(kwargs)
    return plan_taper(parse_taper_request(KB, **args), KB)  # type: ignore[arg-type]


def pace_findings(p: TaperPlan) -> list[str]:
    return [f.summary for f in p.findings if f.code == CODE]


@pytest.mark.parametrize(
    ("kwargs", "percent"),
    [
        ({"reduce": "20%", "every": "14d"}, "20.0%"),
        ({"reduce": "10%", "every": "7d", "forms": None, "liquid": "0.1 mg/mL step 0.1 mL"},
         "19.0%"),
        ({"reduce": "15%", "every": "28d"}, "15.0%"),
        ({"reduce_by": "0.25 mg", "every": "14d"}, "12.5%"),
        ({"reduce": "40%", "every": "14d", "override_reason": "3 weeks of use"}, "40.0%"),
        ({"label_panic": True, "dose": "1 mg/day", "split": "0.5 mg bid"}, "100.0%"),
        ({"dose": "0.5 mg/day", "split": "0.25 mg bid",
          "steps_csv": "daily_dose,days\n0.375 mg,14\n0.25 mg,28\n0.125 mg,28\n0 mg,1\n"},
         "25.0%"),
        ({"via": "diazepam", "via_forms": "tablet:2s,5s,10s", "reduce": "20%", "every": "14d"},
         "20.0%"),
    ],
)  # fmt: skip
def test_faster_than_the_starting_pace_warns_citing_the_guideline(
    kwargs: dict[str, object], percent: str
) -> None:
    p = plan(**kwargs)
    found = [f for f in p.findings if f.code == CODE]
    assert len(found) == 1, [f.code for f in p.findings]
    finding = found[0]
    assert finding.severity == "warning" and finding.rule == "TAPER-START-PACE"
    assert percent in finding.summary and "5-10% every 2-4 weeks" in finding.summary
    assert len(finding.summary) < 140
    assert any(s.ref == "J1" and "5-10%" in s.section for s in finding.sources)
    assert "25%" in finding.detail  # the hard bound is named beside the pace


@pytest.mark.parametrize(
    "kwargs",
    [
        {"reduce": "10%", "every": "14d"},
        {"reduce": "5%", "every": "14d"},
        {"reduce": "10%", "every": "28d"},
        {"reduce_by": "0.125 mg", "every": "14d"},
        {"reduce": "5%", "every": "7d", "forms": None, "liquid": "0.1 mg/mL step 0.1 mL"},
        # only the low-dose tail the forms force (its own finding) and the final stop
        {"dose": "0.25 mg/day", "split": "0.125 mg bid", "forms": "odt:0.125",
         "steps_csv": "daily_dose,days\n0.125 mg,28\n0 mg,1\n"},
    ],
)  # fmt: skip
def test_the_default_pace_and_slower_stay_silent(kwargs: dict[str, object]) -> None:
    # the rounded and low-dose steps have their own findings; the chosen pace is within 5-10%
    assert pace_findings(plan(**kwargs)) == []


def test_the_25_percent_bound_stays_the_hard_limit() -> None:
    with pytest.raises(InvalidInput) as exc:
        plan(reduce="30%", every="14d")
    assert exc.value.field == "reduce" and "25%" in str(exc.value)
    assert pace_findings(plan(reduce="25%", every="14d"))  # allowed, with the warning


def test_the_warning_is_in_the_json_and_the_pdf() -> None:
    p = plan(reduce="20%", every="14d")
    assert CODE in [f["code"] for f in plan_to_dict(p)["findings"]]
    reader = PdfReader(io.BytesIO(plan_to_pdf(p, KB)))
    text = " ".join(page.extract_text() for page in reader.pages)
    assert "starting pace" in text and "TAPER-START-PACE" in text
