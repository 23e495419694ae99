"""Writes that race answer 409, never 500, on SQLite and on PostgreSQL: parallel taper
adjustments from the same version (one wins), parallel starts of a patient's taper plan (one
wins, the patient keeps one active plan), parallel registrations of one MRN, parallel
decisions on one intake."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from support import Api, in_parallel

TAPER = {"drug": "clonazepam", "dose": "2 mg/day", "split": "1 mg bid", "start": "2026-12-01"}
ADJUST = {"on": "2026-12-20", "reason": "withdrawal symptoms", "ciwa_b_score": 14}


def clinicians(as_role: Any, n: int) -> list[Api]:
    return [as_role("clinician") for _ in range(n)]


def test_parallel_adjustments_of_one_version_one_wins(
    as_role: Any, clinician: Api, patient_id: int
) -> None:
    plan = clinician.post(f"/api/patients/{patient_id}/taper-plans", TAPER)
    assert plan.status_code == 201, plan.text
    url = f"/api/taper-plans/{plan.json()['id']}/adjustments"
    body = {**ADJUST, "expected_version": plan.json()["version"]}
    answers = in_parallel([partial(api.post, url, body) for api in clinicians(as_role, 4)])
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409, 409, 409], [a.text for a in answers]
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"conflict"}
    saved = clinician.get(f"/api/taper-plans/{plan.json()['id']}").json()
    assert saved["version"] == 2 and len(saved["versions"]) == 2


def _active_plans(clinician: Api, patient_id: int) -> list[int]:
    plans = clinician.get(f"/api/patients/{patient_id}/chart").json()["taper_plans"]
    return [p["id"] for p in plans if p["status"] == "active"]


def test_parallel_first_plans_for_one_patient_one_wins(
    as_role: Any, clinician: Api, patient_id: int
) -> None:
    url = f"/api/patients/{patient_id}/taper-plans"
    answers = in_parallel([partial(api.post, url, TAPER) for api in clinicians(as_role, 3)])
    assert sorted(a.status_code for a in answers) == [201, 409, 409], [a.text for a in answers]
    (won,) = [a.json()["id"] for a in answers if a.status_code == 201]
    assert _active_plans(clinician, patient_id) == [won]


def test_parallel_replacements_of_one_plan_one_wins(
    as_role: Any, clinician: Api, patient_id: int
) -> None:
    url = f"/api/patients/{patient_id}/taper-plans"
    old = clinician.post(url, TAPER)
    assert old.status_code == 201, old.text
    body = {**TAPER, "dose": "1.5 mg/day", "split": "0.5 mg tid", "replaces": old.json()["id"]}
    answers = in_parallel([partial(api.post, url, body) for api in clinicians(as_role, 3)])
    assert sorted(a.status_code for a in answers) == [201, 409, 409], [a.text for a in answers]
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 409} == {"conflict"}
    (won,) = [a.json()["id"] for a in answers if a.status_code == 201]
    assert _active_plans(clinician, patient_id) == [won]
    ended = clinician.get(f"/api/taper-plans/{old.json()['id']}").json()
    assert ended["status"] == "ended" and ended["end_reason"].startswith(f"replaced by plan {won} ")


def test_parallel_registrations_of_one_mrn_one_wins(as_role: Any) -> None:
    mrn = f"R-{uuid.uuid4().hex[:10]}"
    body = {"mrn": mrn, "family_name": "Race", "given_name": "Test", "birth_date": "1970-01-01"}
    answers = in_parallel(
        [partial(api.post, "/api/patients", body) for api in clinicians(as_role, 4)]
    )
    codes = sorted(a.status_code for a in answers)
    # The first wins; the rest are refused, as a duplicate when they saw the winner (422) or
    # as a conflict when both wrote at once (409): never a server error.
    assert codes[0] == 201 and codes.count(201) == 1 and set(codes[1:]) <= {409, 422}, [
        a.text for a in answers
    ]


def test_parallel_decisions_on_one_intake_one_wins(as_role: Any, patient_id: int) -> None:
    intake = {"drug": "clonazepam", "daily_dose": "2 mg/day", "duration_of_use_months": 24}
    taken = as_role("admissions").post(f"/api/patients/{patient_id}/intakes", intake)
    assert taken.status_code == 201, taken.text
    url = f"/api/intakes/{taken.json()['id']}/decision"
    staff = [as_role("admissions") for _ in range(3)]
    decisions = ("admit", "refer", "admit")
    calls = [partial(a.post, url, {"decision": d}) for a, d in zip(staff, decisions, strict=True)]
    answers = in_parallel(calls)
    assert sorted(a.status_code for a in answers) == [200, 409, 409], [a.text for a in answers]
