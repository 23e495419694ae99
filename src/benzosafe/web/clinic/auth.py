"""Who is asking and may they: sessions, CSRF tokens and role checks.

The session is a signed, HTTP-only cookie (Starlette ``SessionMiddleware``) holding the
user id and a CSRF token; the user is re-read from the database on every request, so a
deactivated user is out at once. Every unsafe request (POST, PUT, PATCH, DELETE) must carry
the session's CSRF token, as the ``csrf_token`` form field or the ``X-CSRF-Token`` header.
Roles: ``admissions`` registers patients and takes intakes; ``clinician`` does that and all
clinical work; ``admin`` manages users and reads the audit log, and sees no clinical notes.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session

from benzosafe.errors import CsrfRefused, Forbidden, NotSignedIn
from benzosafe.store import accounts
from benzosafe.store.models import UserRow
from benzosafe.store.records import Actor

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

# What each role may do; every route names one of these permissions.
PERMISSIONS: dict[str, frozenset[str]] = {
    "patients": frozenset({"admissions", "clinician"}),
    "clinical": frozenset({"clinician"}),
    "admin": frozenset({"admin"}),
    "reference": frozenset({"admin", "admissions", "clinician"}),
}


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def csrf_protect(request: Request) -> None:
    """App-wide dependency: refuse an unsafe request that lacks the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get("csrf")
    given: Any = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if given is None and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        given = (await request.form()).get(CSRF_FIELD)
    if (
        not isinstance(expected, str)
        or not isinstance(given, str)
        or not hmac.compare_digest(expected.encode(), given.encode())
    ):
        raise CsrfRefused("this request lacks a valid CSRF token: reload the page and try again")


def sign_in_user(request: Request, db: Session, username: str, password: str) -> UserRow:
    """Check the rate limits, then the credentials, and start a session for the user.

    The attempt is counted and committed before the password is verified, so parallel
    attempts cannot slip past the limits; refusals are committed too (counts, audit events).
    """
    settings = request.app.state.settings
    client = request.client.host if request.client else "-"
    try:
        accounts.count_sign_in_attempt(
            db, username, client, settings.sign_ins_per_account, settings.sign_ins_per_client
        )
    finally:
        db.commit()
    try:
        user = accounts.authenticate(
            db,
            username,
            password,
            max_failures=settings.max_failed_sign_ins,
            lockout=settings.lockout,
        )
        accounts.release_sign_in_attempt(db, username, client)
    finally:
        db.commit()
    sign_in_session(request, user)
    return user


def sign_in_session(request: Request, user: UserRow) -> None:
    """Start a fresh session for ``user`` (a new CSRF token too)."""
    request.session.clear()
    request.session["uid"] = user.id
    request.session["csrf"] = secrets.token_urlsafe(32)


def current_user(request: Request, db: Session) -> UserRow | None:
    uid = request.session.get("uid")
    if not isinstance(uid, int):
        return None
    user = db.get(UserRow, uid)
    if user is None or not user.active:
        request.session.clear()
        return None
    return user


def actor_of(user: UserRow) -> Actor:
    return Actor(user.id, user.username, user.role)


def require(permission: str) -> Callable[[UserRow | None], UserRow]:
    """A check that the user is signed in and holds ``permission``."""
    roles = PERMISSIONS[permission]

    def check(user: UserRow | None) -> UserRow:
        if user is None:
            raise NotSignedIn("sign in first")
        if user.role not in roles:
            raise Forbidden(f"the {user.role} role may not do this ({permission})")
        return user

    return check


def may(user: UserRow | None, permission: str) -> bool:
    return user is not None and user.role in PERMISSIONS[permission]
