"""Who is asking and may they: sessions, CSRF tokens and role checks.

The session cookie (HTTP-only, SameSite=Lax, ``Secure`` in production) carries one opaque
random token and nothing else; signing in records a session for a new token in the database
(:mod:`benzosafe.store.user_sessions`), and every request looks the token up there, so
sign-out, a deactivation, a password change and the idle and absolute time-outs end a session
at once, on every worker. A visitor who is not signed in gets a token too, with no session
behind it, so the sign-in form has a CSRF token. The CSRF token is an HMAC of the cookie's
token under the secret key: nothing to store, and it changes when the token does (at sign-in
and sign-out). Every unsafe request (POST, PUT, PATCH, DELETE) must carry it, as the
``csrf_token`` form field or the ``X-CSRF-Token`` header.
Roles: ``admissions`` registers patients and takes intakes; ``clinician`` does that and all
clinical work; ``admin`` manages users and reads the audit log, and sees no clinical notes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from benzosafe.errors import CsrfRefused, Forbidden, NotSignedIn
from benzosafe.store import accounts, user_sessions
from benzosafe.store.models import UserRow
from benzosafe.store.records import Actor
from benzosafe.store.user_sessions import SignedIn

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
COOKIE = "benzosafe_session"
_SCOPE_KEY = "benzosafe.session"

# What each role may do; every route names one of these permissions.
PERMISSIONS: dict[str, frozenset[str]] = {
    "patients": frozenset({"admissions", "clinician"}),
    "clinical": frozenset({"clinician"}),
    "admin": frozenset({"admin"}),
    "reference": frozenset({"admin", "admissions", "clinician"}),
}


class SessionCookie:
    """The request's session token (from its cookie, or new), and what the token resolved
    to, looked up once per request."""

    __slots__ = ("looked_up", "send", "session_id", "token", "user")

    def __init__(self, token: str | None) -> None:
        self.token = token
        self.send = False  # a new token to set in the response
        self.looked_up = False
        self.user: SignedIn | None = None
        self.session_id: int | None = None

    def renew(self) -> str:
        """A new token for this browser (at sign-in, sign-out, or the first visit)."""
        self.token = user_sessions.new_token()
        self.send = True
        self.looked_up, self.user, self.session_id = False, None, None
        return self.token


class SessionCookies:
    """ASGI middleware: reads the session token from the cookie and sets a new one when the
    request made one (Max-Age the absolute time-out; the database decides what is live)."""

    def __init__(self, app: ASGIApp, *, max_age: int, secure: bool) -> None:
        self.app = app
        self.attributes = f"Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
        if secure:
            self.attributes += "; Secure"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = HTTPConnection(scope).cookies.get(COOKIE)
        cookie = SessionCookie(given if user_sessions.is_token(given) else None)
        scope[_SCOPE_KEY] = cookie

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and cookie.send:
                headers = MutableHeaders(scope=message)
                headers.append("Set-Cookie", f"{COOKIE}={cookie.token}; {self.attributes}")
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def _cookie(request: Request) -> SessionCookie:
    cookie = request.scope.get(_SCOPE_KEY)
    if not isinstance(cookie, SessionCookie):  # an app without the middleware: a bug of ours
        raise RuntimeError("SessionCookies middleware is not installed")
    return cookie


def _csrf_for(request: Request, token: str) -> str:
    key = request.app.state.settings.secret_key.encode()
    digest = hmac.new(key, b"csrf:" + token.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def csrf_token(request: Request) -> str:
    """The CSRF token of this browser's session token (a token is made on first use)."""
    cookie = _cookie(request)
    return _csrf_for(request, cookie.token or cookie.renew())


async def csrf_protect(request: Request) -> None:
    """App-wide dependency: refuse an unsafe request that lacks the session's CSRF token."""
    if request.method in SAFE_METHODS:
        return
    token = _cookie(request).token
    expected = _csrf_for(request, token) if token is not None else None
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
        sign_in_session(request, db, user)  # in the same transaction: one write, not two
    finally:
        db.commit()
    return user


def sign_in_session(request: Request, db: Session, user: UserRow) -> None:
    """Start a new session for ``user`` under a new token (so a new CSRF token too); a
    session this browser had before ends. The caller commits."""
    cookie = _cookie(request)
    if cookie.token is not None:
        user_sessions.end(db, cookie.token, "signed-in-again")
    row = user_sessions.start(db, user, cookie.renew())
    cookie.looked_up, cookie.user, cookie.session_id = True, SignedIn.of(user), row.id


def sign_out_session(request: Request, db: Session) -> None:
    """End this browser's session (audited) and give it a new token; commits."""
    cookie = _cookie(request)
    if cookie.token is not None:
        user_sessions.end(db, cookie.token, "sign-out")
        db.commit()
    cookie.renew()


def current_user(request: Request, db: Session) -> SignedIn | None:
    """The user of this browser's live session, or None; looked up once per request (a
    session found timed out is ended and committed here)."""
    cookie = _cookie(request)
    if cookie.token is None:
        return None
    if not cookie.looked_up:
        found = user_sessions.resume(db, cookie.token, request.app.state.settings.session_policy)
        if found.wrote:
            db.commit()
        cookie.looked_up, cookie.user, cookie.session_id = True, found.user, found.session_id
    return cookie.user


def current_session_id(request: Request) -> int | None:
    """The id of this request's session row (after :func:`current_user`)."""
    return _cookie(request).session_id


def actor_of(user: SignedIn) -> Actor:
    return Actor(user.id, user.username, user.role)


def require(permission: str) -> Callable[[SignedIn | None], SignedIn]:
    """A check that the user is signed in and holds ``permission``."""
    roles = PERMISSIONS[permission]

    def check(user: SignedIn | None) -> SignedIn:
        if user is None:
            raise NotSignedIn("sign in first")
        if user.role not in roles:
            raise Forbidden(f"the {user.role} role may not do this ({permission})")
        return user

    return check


def may(user: SignedIn | None, permission: str) -> bool:
    return user is not None and user.role in PERMISSIONS[permission]
