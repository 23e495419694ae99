"""The taper plan as a FHIR R4 Bundle: valid against the fhir.resources R4B models, one
MedicationRequest per step and drug with its timing, doses, dates and RxNorm code, the CarePlan
listing them all with the knowledge version and sources; and `benzosafe taper --out
plan.fhir.json` writes it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from benzosafe.clinical.taper import TaperPlan, adjust_plan, parse_taper_request, plan_taper
from benzosafe.exports.taper_fhir import RXNORM, plan_to_fhir
from benzosafe.knowledge import load

KB = load()


def make_plan(**options: Any) -> TaperPlan:
    given = {"drug": "clonazepam", "dose": "2 mg/day", "split": "1 mg bid",
             "start": "2026-12-01", "reduce": "10%", "every": "14d"}  # fmt: skip
    return plan_taper(parse_taper_request(KB, **{**given, **options}), KB)


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def valid(bundle: dict[str, Any]) -> dict[str, Any]:
    """The Bundle after validation by the R4B models (which raise on anything invalid)."""
    Bundle.model_validate(bundle)
    return bundle


def test_one_request_per_step_with_timing_doses_and_dates() -> None:
    plan = make_plan(forms="tablet:0.5 odt:0.125", by="Dr A. Example")
    bundle = valid(plan_to_fhir(plan, KB))
    assert bundle["type"] == "collection"
    (care_plan,) = resources(bundle, "CarePlan")
    requests = resources(bundle, "MedicationRequest")
    taking = [s for s in plan.steps if s.administrations]
    assert len(requests) == len(taking) and len(taking) == len(plan.steps) - 1
    for step, request in zip(taking, requests, strict=True):
        assert request["dispenseRequest"]["validityPeriod"] == {
            "start": step.start.isoformat(),
            "end": step.end.isoformat(),
        }
        doses = [d["doseAndRate"][0]["doseQuantity"] for d in request["dosageInstruction"]]
        assert all(d["code"] == "mg" and d["system"] == "http://unitsofmeasure.org" for d in doses)
        assert sum(Decimal(str(d["value"])) for d in doses) == step.daily_dose_mg
        whens = [d["timing"]["repeat"]["when"] for d in request["dosageInstruction"]]
        assert whens == [["MORN"], ["NIGHT"]] or whens == [["NIGHT"]] or whens == [["MORN"]]
        bounds = request["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]
        assert bounds["start"] == step.start.isoformat()
        assert request["intent"] == "plan" and request["status"] == "draft"
    # the CarePlan lists every request, in order, and the stop step as an activity of its own
    urls = {e["resource"]["id"]: e["fullUrl"] for e in bundle["entry"]}
    listed = [a["reference"]["reference"] for a in care_plan["activity"] if "reference" in a]
    assert listed == [urls[r["id"]] for r in requests]
    stop = care_plan["activity"][-1]["detail"]
    assert plan.steps[-1].start.isoformat() in stop["description"]
    assert care_plan["period"] == {"start": "2026-12-01", "end": plan.steps[-1].start.isoformat()}
    assert care_plan["author"] == {"display": "Dr A. Example"}


def test_rxnorm_product_where_known_else_the_ingredient() -> None:
    bundle = valid(plan_to_fhir(make_plan(forms="tablet:0.5 odt:0.125"), KB))
    codes = [r["medicationCodeableConcept"] for r in resources(bundle, "MedicationRequest")]
    # 2 mg/day as 1 mg twice: four 0.5 mg tablets a day, one product (RxNorm 197527)
    assert codes[0]["coding"] == [
        {"system": RXNORM, "code": "197527", "display": "Clonazepam 0.5 MG Oral Tablet"}
    ]
    mixed = [c for c in codes if "+" in c["text"]]
    assert mixed, "a step taking tablets and ODTs"
    assert all(c["coding"][0]["code"] == "2598" for c in mixed)  # the clonazepam ingredient


def test_liquid_in_millilitres() -> None:
    plan = make_plan(liquid="0.1 mg/mL step 0.1 mL")
    requests = resources(valid(plan_to_fhir(plan, KB)), "MedicationRequest")
    assert requests[0]["medicationCodeableConcept"]["coding"][0]["code"] == "387007"
    quantity = requests[0]["dispenseRequest"]["quantity"]
    # 2 mg/day of 0.1 mg/mL for 14 days is 280 mL
    assert quantity == {"value": 280, "unit": "mL", "system": "http://unitsofmeasure.org",
                        "code": "mL"}  # fmt: skip


def test_switch_step_requests_both_drugs() -> None:
    plan = make_plan(via="diazepam", via_forms="tablet:2s,5s,10s")
    requests = resources(valid(plan_to_fhir(plan, KB)), "MedicationRequest")
    texts = {r["medicationCodeableConcept"]["text"].split()[0] for r in requests}
    assert texts == {"clonazepam", "diazepam"}
    assert len(requests) > len([s for s in plan.steps if s.administrations])


def test_knowledge_version_sources_and_history() -> None:
    plan = adjust_plan(make_plan(), KB, on=date(2027, 1, 10), reason="rebound anxiety",
                       by="Dr B", tolerability="hard to bear")  # fmt: skip
    bundle = valid(plan_to_fhir(plan, KB, {"reference": "Patient/7"}, "active"))
    (care_plan,) = resources(bundle, "CarePlan")
    notes = [n["text"] for n in care_plan["note"]]
    assert any(KB.version in n for n in notes)
    for bound in plan.bounds:
        assert any(n.startswith(f"{bound.rule} version {bound.version}") for n in notes)
        assert all(any(f"[{s.ref}]" in n for n in notes) for s in bound.sources)
    assert "version 2" in care_plan["description"]
    assert care_plan["status"] == "active" and care_plan["subject"] == {"reference": "Patient/7"}
    assert all(r["subject"] == {"reference": "Patient/7"}
               for r in resources(bundle, "MedicationRequest"))  # fmt: skip


def test_same_plan_same_bundle() -> None:
    assert plan_to_fhir(make_plan(), KB) == plan_to_fhir(make_plan(), KB)
    assert plan_to_fhir(make_plan(), KB)["id"] != plan_to_fhir(make_plan(reduce="5%"), KB)["id"]


@pytest.mark.parametrize("name", ["plan.fhir.json", "PLAN.FHIR.JSON"])
def test_cli_writes_the_bundle(tmp_path: Path, name: str) -> None:
    args = ["taper", "--drug", "clonazepam", "--dose", "2 mg/day", "--split", "1 mg bid",
            "--start", "2026-12-01", "--reduce", "10%",
            "--out", str(tmp_path / name), "--out", str(tmp_path / "plan.json")]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "benzosafe", *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    bundle = valid(json.loads((tmp_path / name).read_text(encoding="utf-8")))
    assert bundle["resourceType"] == "Bundle"
    # any other .json keeps its meaning: the plan's own JSON
    plain = json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))
    assert plain["kind"] == "taper-plan"
    last = date.fromisoformat(plain["steps"][-2]["end"]) + timedelta(days=1)
    assert resources(bundle, "CarePlan")[0]["period"]["end"] == last.isoformat()
    assert f"wrote {tmp_path / name}" in result.stderr
