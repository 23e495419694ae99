"""The JSON API's session routes: who is signed in, sign in, sign out, and passwords.

Part of :mod:`.api` (its router includes this one, under ``/api``). A password change or reset
ends the user's other sessions (:mod:`benzosafe.store.user_sessions`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field
from sqlalchemy.orm import Session

from benzosafe.store import accounts
from benzosafe.store.models import UserRow
from benzosafe.store.user_sessions import SignedIn
from benzosafe.web.clinic import auth
from benzosafe.web.clinic.auth import csrf_token, current_user, sign_in_user
from benzosafe.web.clinic.deps import Ctx, RowId, ctx, db_session
from benzosafe.web.clinic.schemas import (
    ERRORS,
    PasswordChanged,
    SessionOut,
    SignedOut,
    Strict,
    declares,
    limited,
)

router = APIRouter(responses=ERRORS)
SIGNED_IN = Depends(ctx("reference"))
ADMIN = Depends(ctx("admin"))


class SignIn(Strict):
    username: str = limited(UserRow.username)
    password: str


class PasswordChangeIn(Strict):
    current_password: str
    new_password: str = Field(description="12 characters or more")


class PasswordIn(Strict):
    password: str = Field(description="12 characters or more")


def user_to_dict(user: UserRow | SignedIn) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "active": user.active,
    }


# ----------------------------------------------------------------------------- session


@router.get("/session", tags=["session"], **declares(SessionOut))
def get_session(request: Request, db: Session = Depends(db_session)) -> dict[str, Any]:
    """The signed-in user (or null) and the CSRF token for unsafe requests."""
    user = current_user(request, db)
    return {"user": user_to_dict(user) if user else None, "csrf_token": csrf_token(request)}


@router.post("/session", tags=["session"], **declares(SessionOut))
def sign_in(body: SignIn, request: Request, db: Session = Depends(db_session)) -> dict[str, Any]:
    """Sign in; answers the user and a fresh CSRF token. Locks the account after repeated
    failures (401); too many attempts for one account or from one address are 429."""
    user = sign_in_user(request, db, body.username, body.password)
    return {"user": user_to_dict(user), "csrf_token": csrf_token(request)}


@router.delete("/session", tags=["session"], **declares(SignedOut))
def sign_out(request: Request, db: Session = Depends(db_session)) -> dict[str, Any]:
    """Sign out: the session ends in the database, so its cookie opens nothing any more."""
    auth.sign_out_session(request, db)
    return {"user": None}


@router.post("/session/password", tags=["session"], **declares(PasswordChanged))
def change_password(body: PasswordChangeIn, c: Ctx = SIGNED_IN) -> dict[str, Any]:
    """Change your own password (give the current one); your other sessions end. A wrong
    current password is 422 and counts as a failed sign-in."""
    settings = c.request.app.state.settings
    try:
        ended = accounts.change_password(
            c.db,
            c.actor,
            body.current_password,
            body.new_password,
            keep_session=auth.current_session_id(c.request),
            max_failures=settings.max_failed_sign_ins,
            lockout=settings.lockout,
        )
    finally:
        c.commit()
    return {"user": user_to_dict(c.user), "sessions_ended": ended}


@router.post("/users/{user_id}/password", tags=["admin"], **declares(PasswordChanged))
def reset_password(user_id: RowId, body: PasswordIn, c: Ctx = ADMIN) -> dict[str, Any]:
    """Set a user's password; every session of theirs ends (but yours, for your own)."""
    user, ended = accounts.reset_password(
        c.db, c.actor, user_id, body.password, keep_session=auth.current_session_id(c.request)
    )
    c.commit()
    return {"user": user_to_dict(user), "sessions_ended": ended}
