"""The treatment programme through the API and the pages: intake to level of care to a
decision, assessments with their scores, side-effect triage, each kept and audited."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from support import Api, row_counts
from test_api import assert_error, audit_actions

INTAKE = {
    "drug": "clonazepam",
    "daily_dose": "2 mg/day",
    "duration_of_use_months": 24,
    "withdrawal_seizure_history": True,
}


def test_intake_recommendation_and_decision(as_role: Any, app: FastAPI, patient_id: int) -> None:
    admissions = as_role("admissions")
    response = admissions.post(f"/api/patients/{patient_id}/intakes", INTAKE)
    assert response.status_code == 201, response.text
    intake = response.json()
    rec = intake["recommendation"]
    assert rec["level"] in ("intensive-outpatient", "inpatient-medically-managed")
    assert all(r["rule"] and r["sources"] for r in rec["reasons"])
    assert intake["answers"]["age"] >= 60  # from the record
    decided = admissions.post(f"/api/intakes/{intake['id']}/decision", {"decision": "admit"})
    assert decided.status_code == 200 and decided.json()["decision"] == "admit"
    assert admissions.get(f"/api/patients/{patient_id}").json()["status"] == "admitted"
    assert_error(
        admissions.post(f"/api/intakes/{intake['id']}/decision", {"decision": "refer"}),
        409,
        "conflict",
    )
    before = row_counts(app)
    error = assert_error(
        admissions.post(f"/api/patients/{patient_id}/intakes", {**INTAKE, "pregnant": "maybe"}),
        422,
        "invalid-input",
    )
    assert error["field"] == "pregnant"
    assert row_counts(app) == before
    assert "intake.admit" in audit_actions(app, patient_id)


def test_assessments_and_side_effects(clinician: Api, app: FastAPI, patient_id: int) -> None:
    for total, when in ((12, "2026-11-01T09:00"), (8, "2026-11-08T09:00")):
        answers = [1] * total + [0] * (20 - total)
        body = {"instrument": "ciwa-b", "answers": answers, "taken_at": when}
        response = clinician.post(f"/api/patients/{patient_id}/assessments", body)
        assert response.status_code == 201, response.text
        assert response.json()["total"] == total
        assert response.json()["score"]["status"] == "draft"  # said, not hidden
    sds = clinician.post(
        f"/api/patients/{patient_id}/assessments", {"instrument": "sds", "answers": [2, 2, 1, 1, 0]}
    ).json()
    assert "65 and over" in sds["score"]["cutoff"]  # the age came from the date of birth
    before = row_counts(app)
    error = assert_error(
        clinician.post(
            f"/api/patients/{patient_id}/assessments", {"instrument": "dsm5", "answers": [0] * 11}
        ),
        422,
        "invalid-input",
    )
    assert error["field"] == "medical_supervision"
    assert_error(
        clinician.post(
            f"/api/patients/{patient_id}/assessments", {"instrument": "nope", "answers": [0]}
        ),
        422,
        "invalid-input",
    )
    assert row_counts(app) == before
    report = clinician.post(
        f"/api/patients/{patient_id}/side-effects", {"symptoms": ["chest pain", "drowsy"]}
    ).json()
    assert report["level"] == "emergency" and report["triage"]["advice"]
    chart = clinician.get(f"/api/patients/{patient_id}/chart").json()
    assert [a["total"] for a in chart["assessments"]][:2] == [12, 8]
    assert chart["side_effects"][0]["level"] == "emergency"
    page = clinician.get(f"/patients/{patient_id}", headers={"accept": "text/html"}).text
    assert "CIWA-B total over time" in page and "emergency" in page and "chest pain" in page


def test_pages_walk_intake_to_admission(as_role: Any, app: FastAPI) -> None:
    api = as_role("admissions")
    created = api.form(
        "/patients/new",
        {"mrn": "PG-1-" + str(id(api)), "family_name": "Formperson", "given_name": "Pat",
         "birth_date": "1980-01-01"},
    )  # fmt: skip
    assert created.status_code == 303 and created.headers["location"].endswith("/intake")
    intake_url = created.headers["location"]
    answers = {"drug": "clonazepam", "daily_dose": "1 mg/day", "support_at_home": "yes"}
    page = api.form(intake_url, {**answers, "substances_assessed": "yes"})
    assert page.status_code == 200 and "Recommended level of care" in page.text
    assert "Never stop abruptly" in page.text or "abrupt" in page.text.lower()
    bad = api.form(intake_url, {"daily_dose": "1 mg"})
    assert bad.status_code == 422 and "daily" in bad.text
    intake_id = page.text.split("/intakes/")[1].split("/")[0]
    done = api.form(f"/intakes/{intake_id}/decision", {"decision": "refer"})
    assert done.status_code == 303
    patient_page = api.get(done.headers["location"], headers={"accept": "text/html"}).text
    assert "referred" in patient_page


TAPER = {"drug": "clonazepam", "dose": "2 mg/day", "split": "1 mg bid", "start": "2026-12-01",
         "reduce": "10%", "every": "14d"}  # fmt: skip


def test_taper_plan_build_adjust_conflict_and_files(
    clinician: Api, as_role: Any, app: FastAPI, patient_id: int
) -> None:
    preview = clinician.post("/api/taper/preview", TAPER).json()
    assert preview["kind"] == "taper-plan" and preview["steps"][-1]["daily_dose_mg"] == 0
    created = clinician.post(f"/api/patients/{patient_id}/taper-plans", TAPER)
    assert created.status_code == 201, created.text
    plan = created.json()
    assert plan["version"] == 1 and plan["versions"][0]["plan"]["steps"] == preview["steps"]
    adjust = {"on": "2026-12-20", "reason": "withdrawal symptoms", "ciwa_b_score": 14}
    second = clinician.post(
        f"/api/taper-plans/{plan['id']}/adjustments", {**adjust, "expected_version": 1}
    )
    assert second.status_code == 200, second.text
    assert second.json()["version"] == 2
    assert second.json()["versions"][-1]["plan"]["stop"] > preview["stop"]  # held: later end
    # A second writer who read version 1 gets a conflict, and nothing changes.
    before = row_counts(app)
    assert_error(
        clinician.post(
            f"/api/taper-plans/{plan['id']}/adjustments", {**adjust, "expected_version": 1}
        ),
        409,
        "conflict",
    )
    assert row_counts(app) == before
    pdf = clinician.get(f"/api/taper-plans/{plan['id']}/plan.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    ics = clinician.get(f"/api/taper-plans/{plan['id']}/plan.ics")
    assert ics.status_code == 200 and b"BEGIN:VCALENDAR" in ics.content
    admissions = as_role("admissions")
    before = row_counts(app)
    assert_error(clinician.get(f"/api/taper-plans/{plan['id']}/plan.exe"), 422, "invalid-input")
    error = assert_error(
        clinician.post("/api/taper/preview", {**TAPER, "reduce": "50%"}), 422, "invalid-input"
    )
    assert error["field"]
    assert_error(admissions.get(f"/api/taper-plans/{plan['id']}/plan.pdf"), 403, "forbidden")
    assert row_counts(app) == before
    actions = audit_actions(app, patient_id)
    assert actions.count("taper-plan.save") == 2 and "taper-plan.read" in actions
    page = clinician.get(f"/patients/{patient_id}", headers={"accept": "text/html"}).text
    assert f"Taper plan {plan['id']}, version 2" in page and 'class="planned"' in page


def test_taper_link_from_the_ehr_card_leads_to_the_patients_taper(
    as_role: Any, clinician: Api, patient_id: int
) -> None:
    """The CDS Hooks patient-view card links to /taper/new?drug=...&daily_dose=..."""
    html = {"accept": "text/html"}
    landing = clinician.get("/taper/new?drug=clonazepam&daily_dose=2%20mg/day", headers=html)
    assert landing.status_code == 200 and "2 mg/day" in landing.text
    found = clinician.get(
        "/taper/new?drug=clonazepam&daily_dose=2%20mg/day&q=Testperson", headers=html
    )
    link = f"/patients/{patient_id}/taper?drug=clonazepam&amp;daily_dose=2+mg%2Fday"
    assert link in found.text
    form = clinician.get(link.replace("&amp;", "&"), headers=html)
    assert form.status_code == 200 and 'value="2 mg/day"' in form.text
    assert as_role("admissions").get("/taper/new", headers=html).status_code == 403


def test_issue_16_taper_pace_seed_claims_and_alongside_treatment(
    clinician: Api, patient_id: int
) -> None:
    fast = {**TAPER, "reduce": "20%", "forms": "tablet:0.5 odt:0.125"}
    preview = clinician.post("/api/taper/preview", fast).json()
    assert "taper-faster-than-starting-pace" in [f["code"] for f in preview["findings"]]
    page = clinician.form(f"/patients/{patient_id}/taper", {**fast, "intent": "preview"})
    assert page.status_code == 200 and "starting pace" in page.text, page.text[:500]
    assert "TAPER-START-PACE" in page.text
    drug = clinician.get("/drugs/clonazepam", headers={"accept": "text/html"}).text
    assert "differs from the label" in drug and "muscle relaxant" in drug
    assert "Illicit market" in drug
    intake = clinician.post(
        f"/api/patients/{patient_id}/intakes", {"drug": "clonazepam", "daily_dose": "1 mg/day"}
    ).json()
    assert [a["id"] for a in intake["recommendation"]["alongside_taper"]] == [
        "psychological-support",
        "co-occurring-use-disorders",
    ]
