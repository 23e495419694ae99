"""Server-side sessions of the web app: started at sign-in, looked up on every request, ended.

A session is a random token (in the browser's cookie) and a ``user_sessions`` row holding the
token's SHA-256, the user, when it started and when it was last seen. :func:`resume` finds the
live session of a token and ends it when it has been idle or open too long; sign-out, a
deactivation and a password change end sessions with :func:`end` and :func:`end_all`. Every
end is one guarded ``UPDATE ... WHERE ended_at IS NULL``, so two workers ending the same
session at once record it (and audit it) once. ``last_seen_at`` is written at most once per
``touch`` interval, not on every request. As in :mod:`benzosafe.store.records` the caller
commits.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, bindparam, select, update
from sqlalchemy.orm import Session

from benzosafe.errors import InvalidInput
from benzosafe.store.models import UserRow, UserSessionRow, utcnow
from benzosafe.store.records import Actor, audit

# Why a session ended (``user_sessions.end_reason``).
END_REASONS = (
    "sign-out",
    "signed-in-again",
    "idle",
    "expired",
    "deactivated",
    "password-changed",
)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """How long a session lives: ``idle`` without a request, ``absolute`` from sign-in at
    most; ``last_seen_at`` is written at most once per ``touch`` (so a session can end up to
    ``touch`` before its idle time-out)."""

    idle: timedelta
    absolute: timedelta
    touch: timedelta

    def __post_init__(self) -> None:
        if min(self.idle, self.absolute) <= timedelta(0) or self.touch < timedelta(0):
            raise InvalidInput("session time-outs", "must be positive")
        if self.touch >= self.idle:
            raise InvalidInput("session touch interval", "must be shorter than the idle time-out")


def new_token() -> str:
    """A fresh random session token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def is_token(text: str | None) -> bool:
    """Whether ``text`` has the shape of a token from :func:`new_token`."""
    return text is not None and _TOKEN.fullmatch(text) is not None


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def _aware(moment: datetime) -> datetime:
    # SQLite returns naive datetimes; everything we store is UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def start(session: Session, user: UserRow, token: str) -> UserSessionRow:
    """Record a new session of ``user`` for ``token`` (sign-in audits itself)."""
    now = utcnow()
    row = UserSessionRow(
        token_hash=token_hash(token), user_id=user.id, created_at=now, last_seen_at=now
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The user of a live session as read with it: what a request needs to know of them
    (who, which role), a plain value rather than an ORM row (issue #18: loading two ORM
    rows for every request's lookup cost more CPU than the page's own query)."""

    id: int
    username: str
    display_name: str
    role: str
    active: bool

    @classmethod
    def of(cls, user: UserRow) -> SignedIn:
        return cls(user.id, user.username, user.display_name, user.role, user.active)


@dataclass(frozen=True, slots=True)
class Resumed:
    """What :func:`resume` found: the user (None: no live session) and whether it wrote."""

    user: SignedIn | None
    session_id: int | None
    wrote: bool


_SESSIONS = UserSessionRow.metadata.tables[UserSessionRow.__tablename__]
_USERS = UserRow.metadata.tables[UserRow.__tablename__]
# One Core statement, built once: the session by its token's hash, joined to its user.
_LOOKUP = (
    select(
        _SESSIONS.c.id,
        _SESSIONS.c.created_at,
        _SESSIONS.c.last_seen_at,
        _SESSIONS.c.ended_at,
        _USERS.c.id.label("user_id"),
        _USERS.c.username,
        _USERS.c.display_name,
        _USERS.c.role,
        _USERS.c.active,
    )
    .join_from(_SESSIONS, _USERS, _USERS.c.id == _SESSIONS.c.user_id)
    .where(_SESSIONS.c.token_hash == bindparam("token_hash"))
)


def resume(session: Session, token: str, policy: SessionPolicy) -> Resumed:
    """The live session of ``token`` and its user; a session past its idle or absolute
    time-out, or of a deactivated user, is ended here (and audited)."""
    row = session.execute(_LOOKUP, {"token_hash": token_hash(token)}).one_or_none()
    if row is None or row.ended_at is not None:
        return Resumed(None, None, False)
    user = SignedIn(row.user_id, row.username, row.display_name, row.role, row.active)
    now = utcnow()
    reason = None
    if not user.active:
        reason = "deactivated"
    elif now - _aware(row.created_at) >= policy.absolute:
        reason = "expired"
    elif now - _aware(row.last_seen_at) >= policy.idle:
        reason = "idle"
    if reason is not None:
        _end(session, _actor(user), [UserSessionRow.id == row.id], reason, now)
        return Resumed(None, None, True)
    if now - _aware(row.last_seen_at) >= policy.touch:
        session.execute(
            update(UserSessionRow)
            .where(UserSessionRow.id == row.id)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
        return Resumed(user, row.id, True)
    return Resumed(user, row.id, False)


def end(session: Session, token: str, reason: str) -> bool:
    """End the live session of ``token``, if any, for ``reason``; audited as ``sign-out``
    (or ``session.end`` with the reason)."""
    user = session.scalar(
        select(UserRow)
        .join(UserSessionRow, UserRow.id == UserSessionRow.user_id)
        .where(UserSessionRow.token_hash == token_hash(token))
    )
    if user is None:
        return False
    return _end(session, _actor(user), [UserSessionRow.token_hash == token_hash(token)], reason) > 0


def end_all(
    session: Session, actor: Actor, user_id: int, reason: str, keep: int | None = None
) -> int:
    """End every live session of user ``user_id`` but ``keep`` (the session asking, when a
    user changes their own password); answers how many ended, audited as ``session.revoke``."""
    where: list[ColumnElement[bool]] = [UserSessionRow.user_id == user_id]
    if keep is not None:
        where.append(UserSessionRow.id != keep)
    return _end(session, actor, where, reason, subject=user_id)


def _end(
    session: Session,
    actor: Actor,
    conditions: Sequence[ColumnElement[bool]],
    reason: str,
    now: datetime | None = None,
    subject: int | None = None,
) -> int:
    if reason not in END_REASONS:
        raise ValueError(f"unknown session end reason {reason!r}")
    ended = session.execute(
        update(UserSessionRow)
        .where(*conditions, UserSessionRow.ended_at.is_(None))
        .values(ended_at=now or utcnow(), end_reason=reason)
        .execution_options(synchronize_session=False)
    ).rowcount  # type: ignore[attr-defined]
    if ended:
        if subject is not None:
            audit(session, actor, "session.revoke", None, f"user {subject}: {ended} ({reason})")
        elif reason == "sign-out":
            audit(session, actor, "sign-out", None, "")
        else:
            audit(session, actor, "session.end", None, reason)
    return int(ended)


def _actor(user: UserRow | SignedIn) -> Actor:
    return Actor(user.id, user.username, user.role)
