"""The JSON API as a client uses it, on SQLite and on PostgreSQL: sessions, records, roles,
CSRF, the one error shape, audit events, and writes that leave nothing half-done."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from support import Api, row_counts

from benzosafe.knowledge import load

ORDER = {"drug": "clonazepam", "dose": "1 mg", "frequency": "tid", "indication": "seizure-disorder"}
ERROR_KEYS = {"status", "code", "message", "field", "allowed"}


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    assert body["error"]["status"] == status and body["error"]["code"] == code, body
    return dict(body["error"])


def audit_actions(app: FastAPI, patient_id: int) -> list[str]:
    admin = Api(app)
    admin.sign_in("test-admin")
    events = admin.get(f"/api/audit?patient_id={patient_id}").json()["events"]
    return [e["action"] for e in reversed(events)]


def test_session_sign_in_and_out(app: FastAPI) -> None:
    api = Api(app)
    assert api.get("/api/session").json()["user"] is None
    assert_error(api.get("/api/patients"), 401, "not-signed-in")
    assert_error(api.sign_in("test-clinician", "wrong password!"), 401, "sign-in-refused")
    me = api.sign_in("test-clinician").json()["user"]
    assert me["role"] == "clinician" and "password_hash" not in me
    assert api.get("/api/patients").status_code == 200
    assert api.client.delete("/api/session", headers={"X-CSRF-Token": api.csrf}).status_code == 200
    assert_error(api.get("/api/patients"), 401, "not-signed-in")


def test_cookie_is_http_only_and_same_site(app: FastAPI) -> None:
    api = Api(app)
    response = api.post("/api/session", {"username": "test-admin", "password": "x" * 20})
    response = api.sign_in("test-admin")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_lock_out_after_repeated_failed_sign_ins(app: FastAPI) -> None:
    admin = Api(app)
    admin.sign_in("test-admin")
    import uuid

    name = f"lock-{uuid.uuid4().hex[:8]}"
    assert (
        admin.post(
            "/api/users", {"username": name, "password": "p" * 14, "role": "clinician"}
        ).status_code
        == 201
    )
    api = Api(app)
    limit = app.state.settings.max_failed_sign_ins
    for _ in range(limit):
        assert_error(api.sign_in(name, "not the password"), 401, "sign-in-refused")
    error = assert_error(api.sign_in(name, "p" * 14), 401, "sign-in-refused")
    assert "locked" in error["message"]
    actions = [e["action"] for e in admin.get("/api/audit").json()["events"][:3]]
    assert actions[0] == "sign-in.locked"
    # An admin re-activating the user lifts the lock.
    user_id = next(
        u["id"] for u in admin.get("/api/users").json()["users"] if u["username"] == name
    )
    assert admin.post(f"/api/users/{user_id}/active", {"active": True}).status_code == 200
    assert api.sign_in(name, "p" * 14).status_code == 200


def test_patient_records_and_their_audit_trail(
    clinician: Api, app: FastAPI, patient_id: int
) -> None:
    found = clinician.get("/api/patients", params={"q": "testperson"}).json()["patients"]
    assert patient_id in [p["id"] for p in found]
    summary = clinician.get(f"/api/patients/{patient_id}").json()
    assert summary["family_name"] == "Testperson" and summary["status"] == "intake"
    created = clinician.post(
        f"/api/patients/{patient_id}/prescriptions",
        {"order": ORDER, "patient": {"weight": "60 kg"}},
    )
    assert created.status_code == 201, created.text
    report = created.json()["report"]
    assert report["knowledge_version"] and all(
        f["rule"] and f["sources"] for f in report["findings"]
    )
    assert created.json()["patient"]["age"] >= 60  # from the date of birth
    dose = clinician.post(
        f"/api/patients/{patient_id}/doses",
        {"day": "2026-11-01", "daily_dose": "0 mg/day", "note": "hold"},
    )
    assert dose.status_code == 201 and dose.json()["daily_mg"] == 0
    chart = clinician.get(f"/api/patients/{patient_id}/chart").json()
    assert len(chart["prescriptions"]) == 1 and len(chart["doses"]) == 1
    assert audit_actions(app, patient_id) == [
        "patient.create",
        "patient.read-summary",
        "patient.read",
        "prescription.create",
        "patient.read",
        "dose.create",
        "patient.read",
    ]


def test_search_is_audited_without_the_search_text(
    clinician: Api, app: FastAPI, patient_id: int
) -> None:
    clinician.get("/api/patients", params={"q": "Testperson"})
    admin = Api(app)
    admin.sign_in("test-admin")
    event = admin.get("/api/audit").json()["events"][1]  # [0] is the admin's sign-in
    assert event["action"] == "patient.search" and "testperson" not in event["what"].lower()
    assert str(patient_id) in event["what"].split(": ")[1].split(",")


def test_bad_input_is_one_error_shape_and_changes_nothing(
    clinician: Api, app: FastAPI, patient_id: int
) -> None:
    before = row_counts(app)
    bad = {**ORDER, "dose": "1"}
    error = assert_error(
        clinician.post(f"/api/patients/{patient_id}/prescriptions", {"order": bad}),
        422,
        "invalid-input",
    )
    assert error["field"] == "order.dose"
    error = assert_error(
        clinician.post(
            f"/api/patients/{patient_id}/prescriptions", {"order": {**ORDER, "indication": "x"}}
        ),
        422,
        "invalid-input",
    )
    assert error["field"] == "order.indication" and "seizure-disorder" in error["allowed"]
    assert_error(
        clinician.post(
            f"/api/patients/{patient_id}/doses", {"day": "nope", "daily_dose": "1 mg/day"}
        ),
        422,
        "invalid-input",
    )
    assert_error(clinician.post("/api/patients", {"mrn": "x"}), 422, "invalid-input")
    assert_error(
        clinician.post(
            "/api/patients/999999/doses", {"day": "2026-01-01", "daily_dose": "1 mg/day"}
        ),
        404,
        "not-found",
    )
    assert_error(clinician.get("/api/no-such-thing"), 404, "not-found")
    # The failed writes left nothing behind: not the record, not even their audit events.
    assert row_counts(app) == before


def test_stateless_check_and_monograph(clinician: Api, as_role: Any) -> None:
    report = clinician.post("/api/check", {"order": ORDER, "patient": {"age": 70}}).json()
    assert {f["code"] for f in report["findings"]} >= {"older-adult"}
    mono = as_role("admissions").get("/api/drugs/Klonopin").json()
    assert mono["id"] == "clonazepam" and mono["schedule"]["sources"]
    assert_error(clinician.get("/api/drugs/aspirin"), 422, "invalid-input")


# Every route that touches patient data or users, with who may NOT use it.
TAPER = {"drug": "clonazepam", "dose": "2 mg/day", "split": "1 mg bid", "start": "2026-12-01"}
SDS = {"instrument": "sds", "answers": [0] * 5}
DOSE = {"day": "2026-11-01", "daily_dose": "1 mg/day"}
NEW_USER = {"username": "sneaky", "password": "p" * 14, "role": "admin"}
NEW_PATIENT = {"mrn": "A1", "family_name": "X", "given_name": "Y", "birth_date": "1970-01-01"}
FORBIDDEN = [
    ("admissions", "GET", "/api/patients/{pid}/chart", None),
    ("admissions", "POST", "/api/patients/{pid}/prescriptions", {"order": ORDER}),
    ("admissions", "POST", "/api/patients/{pid}/doses", DOSE),
    ("admissions", "POST", "/api/check", {"order": ORDER, "patient": {"age": 40}}),
    ("admissions", "POST", "/api/patients/{pid}/assessments", SDS),
    ("admissions", "POST", "/api/patients/{pid}/side-effects", {"symptoms": ["drowsy"]}),
    ("admin", "POST", "/api/patients/{pid}/intakes", {}),
    ("admin", "POST", "/api/intakes/1/decision", {"decision": "admit"}),
    ("admissions", "GET", "/patients/{pid}/assess/ciwa-b", None),
    ("admissions", "POST", "/api/taper/preview", TAPER),
    ("admissions", "POST", "/api/patients/{pid}/taper-plans", TAPER),
    ("admissions", "GET", "/patients/{pid}/taper", None),
    ("admissions", "GET", "/api/users", None),
    ("admissions", "GET", "/api/audit", None),
    ("clinician", "GET", "/api/users", None),
    ("clinician", "POST", "/api/users", NEW_USER),
    ("clinician", "POST", "/api/users/1/active", {"active": False}),
    ("clinician", "POST", "/api/users/1/role", {"role": "admin"}),
    ("admissions", "POST", "/api/users/1/role", {"role": "admin"}),
    ("clinician", "GET", "/api/audit", None),
    ("admin", "GET", "/api/patients", None),
    ("admin", "POST", "/api/patients", NEW_PATIENT),
    ("admin", "GET", "/api/patients/{pid}", None),
    ("admin", "GET", "/api/patients/{pid}/chart", None),
    ("admin", "POST", "/api/patients/{pid}/doses", DOSE),
    ("admissions", "GET", "/patients/{pid}/check", None),
    ("admissions", "GET", "/check", None),
    ("admissions", "GET", "/admin/audit", None),
    ("clinician", "GET", "/admin/users", None),
    ("admin", "GET", "/patients/{pid}", None),
]  # fmt: skip


@pytest.mark.parametrize(("role", "method", "path", "body"), FORBIDDEN)
def test_role_restrictions_hold(
    as_role: Any, app: FastAPI, patient_id: int, role: str, method: str, path: str, body: Any
) -> None:
    api = as_role(role)
    before = row_counts(app)
    url = path.format(pid=patient_id)
    response = api.get(url) if method == "GET" else api.post(url, body)
    assert_error(response, 403, "forbidden")
    assert row_counts(app) == before


def test_admissions_sees_registration_not_clinical_notes(as_role: Any, patient_id: int) -> None:
    page = as_role("admissions").get(f"/patients/{patient_id}", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert (
        "Clinical notes are open to clinicians only" in page.text
        and "Prescription checks" not in page.text
    )


def unsafe_routes() -> list[tuple[str, str]]:
    from benzosafe.web.clinic import api, pages

    out = []
    for route in [*api.router.routes, *pages.router.routes]:
        if isinstance(route, APIRoute):
            for method in sorted(route.methods or ()):
                if method in {"POST", "PUT", "PATCH", "DELETE"}:
                    out.append((method, re.sub(r"\{[^}]+\}", "1", route.path)))
    return out


def test_every_unsafe_route_refuses_a_request_without_csrf_token(
    app: FastAPI, as_role: Any
) -> None:
    routes = unsafe_routes()
    assert ("POST", "/api/patients") in routes and ("POST", "/sign-in") in routes
    for role in ("clinician", "admin"):
        api = as_role(role)
        before = row_counts(app)
        for method, path in routes:
            kwargs: dict[str, Any]
            for kwargs in ({"json": {}}, {"data": {"x": "1"}}, {"data": {"csrf_token": "forged"}}):
                response = api.client.request(method, path, **kwargs)
                assert_error(response, 403, "csrf")
        assert row_counts(app) == before


def test_openapi_documents_the_api(clinician: Api) -> None:
    spec = clinician.get("/openapi.json").json()
    assert {"/api/patients", "/api/patients/{patient_id}/chart", "/api/check", "/api/audit"} <= set(
        spec["paths"]
    )
    assert not any(not p.startswith("/api") for p in spec["paths"])


def test_the_taper_form_starts_at_the_cited_default_pace(clinician: Api, patient_id: int) -> None:
    pace = load().taper.pace
    page = clinician.get(f"/patients/{patient_id}/taper", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert f'value="{pace.percent}%"' in page.text
    assert f'value="{pace.every_days}d"' in page.text


def test_search_finds_a_name_or_mrn_by_any_part_in_any_case_and_never_across_fields(
    clinician: Api,
) -> None:
    """The search is "name or MRN contains the text", letter case aside, on both databases
    (PostgreSQL compares a stored lower-case column, migration 0005): a text that would only
    match across two fields (the family name's end and the given name's start, through a
    wildcard or the stored column's separator) finds nothing."""
    patient = {"family_name": "Quorvath", "given_name": "Emberline", "birth_date": "1950-01-01"}
    made = clinician.post("/api/patients", {**patient, "mrn": "MRN-QV-7731"})
    assert made.status_code == 201, made.text
    pid = made.json()["id"]

    def found(text: str) -> tuple[bool, int]:
        body = clinician.get("/api/patients", params={"q": text}).json()
        return pid in [p["id"] for p in body["patients"]], body["total"]

    for text in ("quorvath", "QUORV", "orvat", "emberLINE", "mrn-qv-77", "qv-7731", " Quorvath "):
        assert found(text) == (True, 1), text
    for text in ("vath|ember", "quorvathember", "vath%ember", "vath_ember", "th|em", "zzqq"):
        assert found(text) == (False, 0), text
    assert found("Quorv%")[0] and found("Quorvat_")[0]  # a wildcard within one field still works


# Names as clinics record them, with letters beyond ASCII (Norwegian, Turkish, Spanish,
# Polish, French, German), each searched as typed, in lower case and in capitals.
NAMES_BEYOND_ASCII = [
    ("Ødegaard", "Åsmund"),
    ("Çelik", "Şükrü"),
    ("Núñez", "Ángeles"),
    ("Łukasiewicz", "Żaneta"),
    ("Lefèvre", "Éloïse"),
    ("Müller", "Jürgen"),
]


def test_search_folds_the_case_of_letters_beyond_ascii_on_both_databases(
    clinician: Api,
) -> None:
    """SQLite's LIKE and lower() fold only ASCII letters: "Ødegaard" typed as it is written
    (lowered to "ødegaard" for the search) found nobody on SQLite, while PostgreSQL found the
    patient. Both now find each name however its case is typed."""
    ids = {}
    for n, (family, given) in enumerate(NAMES_BEYOND_ASCII):
        made = clinician.post(
            "/api/patients",
            {"mrn": f"MRN-UNI-{n}", "family_name": family, "given_name": given,
             "birth_date": "1960-05-05"},
        )  # fmt: skip
        assert made.status_code == 201, made.text
        ids[family] = made.json()["id"]

    def found(text: str) -> list[int]:
        body = clinician.get("/api/patients", params={"q": text}).json()
        return [p["id"] for p in body["patients"]]

    for family, given in NAMES_BEYOND_ASCII:
        for text in (family, family.lower(), family.upper(), given.lower(), given.upper()):
            assert ids[family] in found(text), text
    assert ids["Ødegaard"] not in found("odegaard")  # no accent folding: ø is not o
    page = clinician.get("/patients", params={"q": "ÇEL"})  # the page's search too
    assert page.status_code == 200 and "Çelik" in page.text
