"""One active taper plan per patient (#18), on SQLite and PostgreSQL: a new plan names the
active plan it replaces, which ends with a reason shown in the API, the patient page's
timeline and the audit log; a plan that ended cannot be adjusted; a builder page whose plan
changed meanwhile is a conflict that shows the plan now active."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from fastapi import FastAPI
from support import Api, row_counts
from test_api import assert_error, audit_actions

TAPER = {"drug": "clonazepam", "dose": "2 mg/day", "split": "1 mg bid", "start": "2026-12-01"}
ADJUST = {"on": "2026-12-20", "reason": "withdrawal symptoms", "ciwa_b_score": 14,
          "expected_version": 1}  # fmt: skip


def _plans(clinician: Api, patient_id: int) -> list[dict[str, Any]]:
    chart = clinician.get(f"/api/patients/{patient_id}/chart")
    assert chart.status_code == 200, chart.text
    return list(chart.json()["taper_plans"])


def test_a_new_plan_ends_the_one_it_replaces(app: FastAPI, clinician: Api, patient_id: int) -> None:
    url = f"/api/patients/{patient_id}/taper-plans"
    first = clinician.post(url, TAPER)
    assert first.status_code == 201, first.text
    first_id = first.json()["id"]
    assert first.json()["status"] == "active" and first.json()["end_reason"] is None

    # A second plan that does not say which plan it replaces changes nothing.
    before = row_counts(app)
    error = assert_error(clinician.post(url, TAPER), 409, "conflict")
    assert f"already has an active taper plan ({first_id})" in error["message"]
    stale = assert_error(
        clinician.post(url, {**TAPER, "replaces": first_id + 1000}), 409, "conflict"
    )
    assert f"plan {first_id} is" in stale["message"]
    bad = assert_error(clinician.post(url, {**TAPER, "replaces": "first"}), 422, "invalid-input")
    assert bad["field"] == "replaces"
    assert row_counts(app) == before

    second = clinician.post(
        url, {**TAPER, "dose": "1.5 mg/day", "split": "0.5 mg tid", "replaces": first_id}
    )
    assert second.status_code == 201, second.text
    second_id = second.json()["id"]
    assert second.json()["status"] == "active"
    ended = clinician.get(f"/api/taper-plans/{first_id}").json()
    reason = f"replaced by plan {second_id} on {date.today().isoformat()} by test-clinician"
    assert ended["status"] == "ended" and ended["end_reason"] == reason, ended
    assert ended["ended_at"] is not None and ended["version"] == 2
    assert [(p["id"], p["status"]) for p in _plans(clinician, patient_id)] == [
        (first_id, "ended"),
        (second_id, "active"),
    ]
    assert "taper-plan.end" in audit_actions(app, patient_id)

    # The plan that ended cannot change; the active one can.
    refused = assert_error(
        clinician.post(
            f"/api/taper-plans/{first_id}/adjustments", {**ADJUST, "expected_version": 2}
        ),
        409,
        "conflict",
    )
    assert "has ended (replaced by plan" in refused["message"]
    adjusted = clinician.post(f"/api/taper-plans/{second_id}/adjustments", ADJUST)
    assert adjusted.status_code == 200, adjusted.text

    page = clinician.get(f"/patients/{patient_id}", headers={"accept": "text/html"}).text
    assert f"Taper plan {second_id}, version 2</h2>" in page
    assert f"Taper plan {first_id} ended: {reason}" in page  # the timeline
    assert 'id="earlier-plans"' in page and f"Plan {first_id}, version 2: ended" in page


def test_the_builder_names_the_plan_it_ends_and_refuses_a_stale_page(
    clinician: Api, patient_id: int
) -> None:
    builder = clinician.get(f"/patients/{patient_id}/taper").text
    assert 'name="replaces" value=""' in builder and 'id="replaces-note"' not in builder
    form = {**TAPER, "reduce": "10%", "every": "14d", "intent": "save", "replaces": ""}
    saved = clinician.form(f"/patients/{patient_id}/taper", form)
    assert saved.status_code == 303, saved.text
    (first,) = _plans(clinician, patient_id)

    builder = clinician.get(f"/patients/{patient_id}/taper").text
    assert f'name="replaces" value="{first["id"]}"' in builder
    note = re.search(r'<p class="warning" id="replaces-note">(.*?)</p>', builder, re.S)
    assert note and f"Taper plan {first['id']} (version 1," in note.group(1)
    assert "Saving this plan ends it" in note.group(1)

    # A page opened before the first plan was saved says it replaces nothing: a conflict,
    # answered with the builder naming the plan active now; nothing is saved.
    stale = clinician.form(f"/patients/{patient_id}/taper", form)
    assert stale.status_code == 409
    assert "already has an active taper plan" in stale.text
    assert f'name="replaces" value="{first["id"]}"' in stale.text
    assert len(_plans(clinician, patient_id)) == 1

    replaced = clinician.form(f"/patients/{patient_id}/taper", {**form, "replaces": first["id"]})
    assert replaced.status_code == 303, replaced.text
    old, new = _plans(clinician, patient_id)
    assert (old["status"], new["status"]) == ("ended", "active")
    assert old["end_reason"].startswith(f"replaced by plan {new['id']} on ")
