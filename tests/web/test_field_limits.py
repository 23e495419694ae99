"""Field limits come from the model and hold the same on SQLite and PostgreSQL (#18).

Every text column of the model is listed by :func:`benzosafe.store.limits.text_columns`; each
one is either written from a request (``WRITES``: the route and field that carry it) or only
by the code (``DERIVED``), so a new column fails here until it is placed. Over HTTP, on both
databases, a value one character over the column's limit is a 422 naming the field and
changes nothing; a free-text value exactly at the limit is stored (the migrated column holds
it). Ids and counts beyond a 32-bit ``Integer`` are a 422 too, never a database error.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi import FastAPI
from support import Api, row_counts

from benzosafe.errors import InvalidInput
from benzosafe.store.limits import INTEGER_MAX, limits, max_length, text_columns
from benzosafe.store.models import PatientRow

TAPER = {"drug": "clonazepam", "dose": "2 mg/day", "split": "1 mg bid", "start": "2026-12-01"}
INTAKE = {"drug": "clonazepam", "daily_dose": "2 mg/day", "duration_of_use_months": 24}


def _patient(value: str | None = None, key: str = "mrn") -> dict[str, str]:
    body = {
        "mrn": f"L-{uuid.uuid4().hex[:12]}",
        "family_name": "Limitson",
        "given_name": "Lena",
        "birth_date": "1971-04-05",
    }
    if value is not None:
        body[key] = value
    return body


Apis = dict[str, Api]


@dataclass(frozen=True)
class Write:
    """The route that takes a column's value from a request: ``send(apis, target, value)``
    after ``prepare(apis)`` made what it writes to (a patient, an intake, a plan)."""

    field: str
    send: Callable[[Apis, Any, str], Any]
    prepare: Callable[[Apis], Any] = lambda apis: None
    free_text: bool = True  # any text up to the limit is valid (not a code such as a role)


def _unique(value: str) -> str:
    """A value of the same length, unique (an MRN, a username)."""
    return (uuid.uuid4().hex + value)[: len(value)]


def _new_patient(apis: Apis) -> int:
    return int(apis["clinician"].post("/api/patients", _patient()).json()["id"])


def _patient_write(key: str) -> Write:
    def send(apis: Apis, _: Any, value: str) -> Any:
        value = _unique(value) if key == "mrn" else value
        return apis["clinician"].post("/api/patients", _patient(value, key))

    return Write(key, send)


def _user(key: str, free_text: bool = True) -> Write:
    def send(apis: Apis, _: Any, value: str) -> Any:
        body = {"username": f"u-{uuid.uuid4().hex[:10]}", "password": "p" * 14, "role": "clinician"}
        body[key] = _unique(value) if key == "username" else value
        return apis["admin"].post("/api/users", body)

    return Write(key, send, free_text=free_text)


def _intake(apis: Apis) -> int:
    taken = apis["clinician"].post(f"/api/patients/{_new_patient(apis)}/intakes", INTAKE)
    return int(taken.json()["id"])


def _plan(apis: Apis) -> dict[str, Any]:
    made = apis["clinician"].post(f"/api/patients/{_new_patient(apis)}/taper-plans", TAPER)
    return dict(made.json())


def _decide(apis: Apis, intake: int, value: str) -> Any:
    return apis["clinician"].post(f"/api/intakes/{intake}/decision", {"decision": value})


def _assess(apis: Apis, patient: int, value: str) -> Any:
    body = {"instrument": value, "answers": [0] * 5}
    return apis["clinician"].post(f"/api/patients/{patient}/assessments", body)


def _dose(key: str) -> Callable[[Apis, Any, str], Any]:
    def send(apis: Apis, patient: int, value: str) -> Any:
        body = {"day": "2026-11-01", "daily_dose": "1 mg/day", key: value}
        return apis["clinician"].post(f"/api/patients/{patient}/doses", body)

    return send


def _adjust(apis: Apis, plan: dict[str, Any], value: str) -> Any:
    body = {"expected_version": plan["version"], "on": "2026-12-20", "reason": value}
    return apis["clinician"].post(f"/api/taper-plans/{plan['id']}/adjustments", body)


def _sign_in(apis: Apis, _: Any, value: str) -> Any:
    return apis["anonymous"].post("/api/session", {"username": value, "password": "p" * 14})


# The route and field that write each text column from a request.
WRITES: dict[str, Write] = {
    "patients.mrn": _patient_write("mrn"),
    "patients.family_name": _patient_write("family_name"),
    "patients.given_name": _patient_write("given_name"),
    "users.username": _user("username"),
    "users.display_name": _user("display_name"),
    "users.role": _user("role", free_text=False),
    "intakes.decision": Write("decision", _decide, _intake, free_text=False),
    "assessments.instrument": Write("instrument", _assess, _new_patient, free_text=False),
    "dose_records.daily_mg": Write("daily_dose", _dose("daily_dose"), _new_patient, False),
    "dose_records.note": Write("note", _dose("note"), _new_patient),
    # The adjustment's reason goes into the version's note, after the action ("hold: ").
    "taper_plan_versions.note": Write("reason", _adjust, _plan, free_text=False),
    # A sign-in names an account: counted under ``account:NAME``, never longer than a user's.
    "sign_in_attempts.key": Write("username", _sign_in, free_text=False),
}
# Text columns only the code writes, and why no request can make them too long.
DERIVED = {
    "users.password_hash": "an argon2 hash of the password",
    "patients.status": "one of PATIENT_STATUSES, set by the records",
    "prescriptions.worst_severity": "a finding severity from the clinical core",
    "taper_plans.status": "active or ended, set by the records",
    "taper_plans.end_reason": "'replaced by plan N on DATE by NAME', written by the records",
    "side_effect_reports.level": "a triage level from the clinical core",
    "user_sessions.token_hash": "a SHA-256 hex digest of a random token",
    "user_sessions.end_reason": "sign-out, time-out, ... set by the code",
    "audit_events.username": "the user's username (users.username) or a cut sign-in name",
    "audit_events.action": "a fixed action name in the code",
    "audit_events.what": "ids and codes the code writes (no limit: Text)",
    "patients.search_text": "generated by the database from the names and the MRN",
}


def test_every_text_column_is_written_by_a_route_tested_here_or_by_the_code() -> None:
    columns = set(text_columns())
    assert set(WRITES) | set(DERIVED) == columns, (
        "place each text column of the model in WRITES (with the route that writes it) or "
        f"DERIVED: missing {sorted(columns - set(WRITES) - set(DERIVED))}, "
        f"gone {sorted((set(WRITES) | set(DERIVED)) - columns)}"
    )
    assert not set(WRITES) & set(DERIVED)
    unlimited = sorted(set(WRITES) - set(limits()))
    assert not unlimited, f"a column written from a request needs a limit: {unlimited}"


@pytest.fixture
def apis(app: FastAPI, as_role: Callable[[str], Api]) -> dict[str, Api]:
    return {"clinician": as_role("clinician"), "admin": as_role("admin"), "anonymous": Api(app)}


@pytest.mark.parametrize("column", sorted(WRITES))
def test_one_over_the_limit_is_a_422_naming_the_field(
    column: str, app: FastAPI, apis: Apis
) -> None:
    write = WRITES[column]
    limit = limits()[column]
    target = write.prepare(apis)
    before = row_counts(app)
    sent = write.send(apis, target, "x" * (limit + 1))
    assert sent.status_code == 422, sent.text
    error = sent.json()["error"]
    assert error["code"] == "invalid-input" and error["field"].split(".")[-1] == write.field
    assert row_counts(app) == before
    if write.free_text:
        stored = write.send(apis, target, "y" * limit)
        assert stored.status_code == 201, stored.text


def test_a_too_long_record_is_refused_before_the_database_on_both(app: FastAPI) -> None:
    before = row_counts(app)
    limit = max_length(PatientRow.mrn) or 0
    with app.state.sessions() as session:
        row = PatientRow(
            mrn="m" * (limit + 8), family_name="F", given_name="G", birth_date=_birth()
        )
        session.add(row)
        with pytest.raises(InvalidInput) as refused:
            session.flush()
        session.rollback()
    assert refused.value.field == "patients.mrn" and str(limit) in str(refused.value)
    assert row_counts(app) == before


def _birth() -> Any:
    from datetime import date

    return date(1970, 1, 1)


PAGES: list[tuple[str, str, dict[str, str], str]] = [
    ("clinician", "/patients/new", _patient("x" * 33), "patient.mrn"),
    ("clinician", "/patients/new", _patient("x" * 129, "given_name"), "patient.given_name"),
    ("admin", "/admin/users", {"username": "ok-name", "password": "p" * 14,
                               "role": "clinician", "display_name": "d" * 129}, "display_name"),
]  # fmt: skip


@pytest.mark.parametrize(("role", "path", "form", "field"), PAGES)
def test_forms_refuse_too_long_values_and_show_the_limit(
    role: str, path: str, form: dict[str, str], field: str, app: FastAPI, apis: dict[str, Api]
) -> None:
    before = row_counts(app)
    page = apis[role].form(path, form)
    assert page.status_code == 422, page.text
    assert field in page.text and "at most" in page.text
    assert row_counts(app) == before
    new_patient = apis["clinician"].client.get("/patients/new").text
    assert f'maxlength="{limits()["patients.mrn"]}"' in new_patient


def test_a_dose_note_is_never_cut_short(apis: dict[str, Api], app: FastAPI) -> None:
    patient = _new_patient(apis)
    note = "n" * limits()["dose_records.note"]
    body = {"day": "2026-11-02", "daily_dose": "1 mg/day", "note": note}
    stored = apis["clinician"].post(f"/api/patients/{patient}/doses", body)
    assert stored.status_code == 201 and stored.json()["note"] == note
    before = row_counts(app)
    page = apis["clinician"].form(f"/patients/{patient}/doses", {**body, "note": note + "!"})
    assert page.status_code == 422 and "dose.note" in page.text
    assert row_counts(app) == before


BIG = [INTEGER_MAX + 1, 2**63, 10**30]


@pytest.mark.parametrize("number", BIG)
def test_ids_and_counts_beyond_an_integer_are_a_422(number: int, apis: dict[str, Api]) -> None:
    clinician, admin = apis["clinician"], apis["admin"]
    paths = [
        (clinician, f"/api/patients/{number}", "path.patient_id"),
        (clinician, f"/api/patients/{number}/chart", "path.patient_id"),
        (clinician, f"/api/taper-plans/{number}", "path.taper_plan_id"),
        (clinician, f"/api/patients?offset={number}", "query.offset"),
        (clinician, f"/api/patients?limit={number}", "query.limit"),
        (admin, f"/api/audit?patient_id={number}", "query.patient_id"),
    ]
    for api, path, field in paths:
        answer = api.get(path)
        assert answer.status_code == 422, (path, answer.text)
        assert answer.json()["error"]["field"] == field
    posted = clinician.post(f"/api/patients/{number}/doses", {"day": "x", "daily_dose": "1"})
    assert posted.status_code == 422
    page = clinician.client.get(f"/patients/{number}", headers={"accept": "text/html"})
    assert page.status_code == 422
    stale = clinician.post(
        f"/api/taper-plans/{INTEGER_MAX}/adjustments",
        {"expected_version": number, "on": "2026-12-20", "reason": "r"},
    )
    assert stale.status_code == 422 and stale.json()["error"]["field"] == "expected_version"
    assert clinician.get(f"/api/patients/{INTEGER_MAX}").status_code == 404
    patient = _new_patient(apis)
    replacing = clinician.post(
        f"/api/patients/{patient}/taper-plans", {**TAPER, "replaces": number}
    )
    assert replacing.status_code == 422 and replacing.json()["error"]["field"] == "replaces"
