"""Somebody can always manage users, on SQLite and on PostgreSQL: the last active admin cannot
be deactivated (409, saying why), not by themselves and not by two admins deactivating each
other at the same moment (both 200 would leave none)."""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

from fastapi import FastAPI
from support import PASSWORD, Api, in_parallel, row_counts


def signed_in_admin(app: FastAPI, username: str = "test-admin") -> Api:
    api = Api(app)
    assert api.sign_in(username).status_code == 200
    return api


def users(admin: Api) -> dict[str, Any]:
    return {u["username"]: u for u in admin.get("/api/users").json()["users"]}


def new_admin(admin: Api) -> dict[str, Any]:
    body = {"username": f"adm-{uuid.uuid4().hex[:8]}", "password": PASSWORD, "role": "admin"}
    response = admin.post("/api/users", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def set_active(admin: Api, user_id: int, active: bool) -> Any:
    return admin.post(f"/api/users/{user_id}/active", {"active": active})


def test_the_last_active_admin_cannot_be_deactivated(app: FastAPI) -> None:
    admin = signed_in_admin(app)
    for user in users(admin).values():  # admins other tests made: test-admin is left alone
        if user["role"] == "admin" and user["username"] != "test-admin" and user["active"]:
            assert set_active(admin, user["id"], False).status_code == 200
    me = users(admin)["test-admin"]
    before = row_counts(app)
    refused = set_active(admin, me["id"], False)
    assert refused.status_code == 409, refused.text
    error = refused.json()["error"]
    assert error["code"] == "conflict" and "last active admin" in error["message"]
    assert row_counts(app) == before and users(admin)["test-admin"]["active"]
    page = admin.form(f"/admin/users/{me['id']}/active", {"active": "false"})
    assert page.status_code == 409 and "last active admin" in page.text
    demoted = admin.post(f"/api/users/{me['id']}/role", {"role": "clinician"})
    assert demoted.status_code == 409 and "cannot be demoted" in demoted.text
    assert row_counts(app) == before and users(admin)["test-admin"]["role"] == "admin"
    # With a second admin, either may go or become a clinician.
    other = new_admin(admin)
    changed = admin.post(f"/api/users/{other['id']}/role", {"role": "clinician"})
    assert changed.status_code == 200 and changed.json()["role"] == "clinician"
    assert set_active(admin, other["id"], False).status_code == 200
    bad = admin.post(f"/api/users/{other['id']}/role", {"role": "nurse"})
    assert bad.status_code == 422 and "admissions" in bad.json()["error"]["allowed"]


def test_two_admins_deactivating_each_other_at_once_leave_one(app: FastAPI) -> None:
    admin = signed_in_admin(app)
    first, second = new_admin(admin), new_admin(admin)
    a = signed_in_admin(app, first["username"])
    b = signed_in_admin(app, second["username"])
    test_admin = users(admin)["test-admin"]["id"]
    for user in users(admin).values():  # only the two new admins stay active
        if user["role"] == "admin" and user["id"] not in (first["id"], second["id"]):
            assert set_active(a, user["id"], False).status_code == 200
    try:
        answers = in_parallel(
            [
                partial(set_active, a, second["id"], False),
                partial(set_active, b, first["id"], False),
            ]
        )
        # One wins; the other is refused as the last admin (409) or, when the winner's change
        # committed before the loser's request was let in, as no longer signed in (401).
        codes = sorted(r.status_code for r in answers)
        assert codes in ([200, 409], [200, 401]), [r.text for r in answers]
    finally:  # test-admin back, by whichever admin is still active
        back = [set_active(api, test_admin, True).status_code for api in (a, b)]
        assert 200 in back
    # test-admin's deactivation ended its session: reactivated, it signs in again.
    assert admin.get("/api/users").status_code == 401
    admin = signed_in_admin(app)
    still = [u for u in users(admin).values() if u["role"] == "admin" and u["active"]]
    assert len(still) == 2  # the survivor and test-admin again
