"""Users of the web app and how they sign in: accounts, passwords, lock-out and rate limits.

Deactivating a user and changing or resetting a password end that user's sessions
(:mod:`benzosafe.store.user_sessions`); a user changing their own password keeps the session
they changed it from.

Everything that counts here is counted by the database in one statement (``failures =
failures + 1 ... RETURNING``, an upsert of the rate-limit counter), never read, changed in
Python and written back, so parallel sign-ins on any number of workers neither lose a count
nor slip past a limit, on SQLite and PostgreSQL alike. As in :mod:`benzosafe.store.records`
the caller commits; a refused sign-in is committed too, so its count and audit event stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import and_, case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, aliased

from benzosafe.errors import Conflict, InvalidInput, NotFound, SignInRefused, TooManyAttempts
from benzosafe.store import user_sessions
from benzosafe.store.limits import check_text, max_length
from benzosafe.store.models import ROLES, SignInAttemptRow, UserRow, utcnow
from benzosafe.store.records import Actor, audit

HASHER = PasswordHasher()
# Verified against when the username is unknown, so both paths cost one argon2 hash.
_DUMMY_HASH = HASHER.hash("benzosafe-no-such-user")
MIN_PASSWORD_LENGTH = 12
# A name given at sign-in is cut to this before it is counted or audited (no user has a
# longer one); the API refuses a longer one outright.
_NAME_MAX = max_length(UserRow.username) or 64


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite returns naive datetimes; everything we store is UTC.
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


# ----------------------------------------------------------------------------- users


def create_user(
    session: Session,
    actor: Actor,
    username: str,
    password: str,
    role: str,
    display_name: str = "",
) -> UserRow:
    """Add a user with an argon2 hash of the password."""
    username = username.strip().lower()
    longest = max_length(UserRow.username)
    if (
        not username
        or len(username) > (longest or 0)
        or not username.replace(".", "").replace("-", "").isalnum()
        or not username.isascii()
    ):
        raise InvalidInput("username", f"1-{longest} letters, digits, '.' or '-'")
    display_name = check_text(UserRow.display_name, display_name.strip(), "display_name")
    if role not in ROLES:
        raise InvalidInput("role", f"unknown role {role!r}", ROLES)
    _check_password(password)
    if session.scalar(select(UserRow.id).where(UserRow.username == username)) is not None:
        raise InvalidInput("username", f"{username!r} is taken")
    user = UserRow(
        username=username,
        display_name=display_name or username,
        password_hash=HASHER.hash(password),
        role=role,
        active=True,
        failed_sign_ins=0,
    )
    session.add(user)
    session.flush()
    audit(session, actor, "user.create", None, f"user {user.id} {username} role {role}")
    return user


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")


def list_users(session: Session) -> Sequence[UserRow]:
    return session.scalars(select(UserRow).order_by(UserRow.username)).all()


def set_user_active(session: Session, actor: Actor, user_id: int, active: bool) -> UserRow:
    """Activate (which also lifts a lock-out) or deactivate a user, which ends their sessions;
    the last active admin is never deactivated (:class:`Conflict`), however many admins try
    at once."""
    user = session.get(UserRow, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    if active:
        user.active = True
        user.failed_sign_ins = 0
        user.locked_until = None
    else:
        _deactivate_keeping_an_admin(session, user)
    audit(session, actor, "user.activate" if active else "user.deactivate", None, f"user {user_id}")
    if not active:
        user_sessions.end_all(session, actor, user_id, "deactivated")
    return user


def change_password(
    session: Session,
    actor: Actor,
    current: str,
    new: str,
    *,
    keep_session: int | None,
    max_failures: int,
    lockout: timedelta,
) -> int:
    """The signed-in user (``actor``) changes their own password, giving the current one;
    their other sessions end (answers how many). A wrong current password counts as a failed
    sign-in, locks the account like one, and is :class:`InvalidInput` (the caller commits
    either way, so the count stays)."""
    _check_password(new)
    user = session.get(UserRow, actor.user_id)
    if user is None:
        raise NotFound("user not found")
    now = utcnow()
    locked_until = _aware(user.locked_until)
    if locked_until is not None and locked_until > now:
        raise InvalidInput("current_password", "too many failed attempts: locked for a while")
    if not _verify(user.password_hash, current):
        failures = _count_failure(session, user.id, now)
        if failures >= max_failures:
            _lock(session, user.id, now + lockout)
        audit(session, actor, "password.refused", None, f"failure {failures}")
        raise InvalidInput("current_password", "is not this user's password")
    user.password_hash = HASHER.hash(new)
    audit(session, actor, "password.change", None, f"user {user.id}")
    return user_sessions.end_all(session, actor, user.id, "password-changed", keep_session)


def reset_password(
    session: Session, actor: Actor, user_id: int, new: str, *, keep_session: int | None = None
) -> tuple[UserRow, int]:
    """An admin sets a user's password; every session of that user ends (but ``keep_session``,
    the admin's own when they reset their own password). Answers the user and how many
    sessions ended."""
    _check_password(new)
    user = session.get(UserRow, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    user.password_hash = HASHER.hash(new)
    audit(session, actor, "password.reset", None, f"user {user_id}")
    return user, user_sessions.end_all(session, actor, user_id, "password-changed", keep_session)


def set_user_role(session: Session, actor: Actor, user_id: int, role: str) -> UserRow:
    """Give a user another role; the last active admin is never demoted (:class:`Conflict`)."""
    if role not in ROLES:
        raise InvalidInput("role", f"unknown role {role!r}", ROLES)
    user = session.get(UserRow, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    before = user.role
    if role == "admin":
        user.role = role
    else:
        _keeping_an_admin(session, user, {"role": role}, "demoted")
    audit(session, actor, "user.role", None, f"user {user_id} {before} -> {role}")
    return user


def _deactivate_keeping_an_admin(session: Session, user: UserRow) -> None:
    _keeping_an_admin(session, user, {"active": False}, "deactivated")


def _keeping_an_admin(
    session: Session, user: UserRow, change: dict[str, object], what: str
) -> None:
    """Change ``user`` (deactivate or demote) unless it would leave no active admin.

    PostgreSQL: the active admins' rows are locked first, so two admins deactivating each
    other wait for one another and the second sees the first's change. SQLite has one writer
    at a time and the guarded UPDATE below is one statement, so the check and the change
    cannot be split there either.
    """
    admins = (UserRow.role == "admin", UserRow.active.is_(True))
    session.scalars(select(UserRow.id).where(*admins).with_for_update()).all()
    other = aliased(UserRow)
    another_admin = (
        select(other.id).where(other.role == "admin", other.active.is_(True), other.id != user.id)
    ).exists()
    done = session.execute(
        update(UserRow)
        .where(UserRow.id == user.id, or_(UserRow.role != "admin", another_admin))
        .values(**change)
        .execution_options(synchronize_session=False)
    )
    session.expire(user, list(change))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(
            f"{user.username} is the last active admin and cannot be {what}: make another "
            "user an admin first, or nobody could manage users"
        )


# ----------------------------------------------------------------------------- signing in


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    max_failures: int,
    lockout: timedelta,
) -> UserRow:
    """The user for these credentials; counts failures and locks the account when too many.

    The failure count and the lock are written even though sign-in is refused, so the
    caller must commit after a :class:`SignInRefused` too. No transaction is held while the
    password is verified (argon2 is slow on purpose): the user is read, the hash checked,
    and only then is the count changed, in one statement.
    """
    name = username.strip().lower()
    user = session.scalar(select(UserRow).where(UserRow.username == name))
    now = utcnow()
    if user is None:
        _verify(_DUMMY_HASH, password)
        audit(
            session,
            Actor(None, name[:_NAME_MAX] or "-", "-"),
            "sign-in.refused",
            None,
            "unknown user",
        )
        raise SignInRefused("wrong username or password")
    actor = Actor(user.id, user.username, user.role)
    locked_until = _aware(user.locked_until)
    if locked_until is not None and locked_until > now:
        audit(session, actor, "sign-in.locked", None, "")
        raise SignInRefused("too many failed sign-ins: this account is locked for a while")
    if not _verify(user.password_hash, password) or not user.active:
        failures = _count_failure(session, user.id, now)
        what = f"failure {failures}"
        if failures >= max_failures:
            _lock(session, user.id, now + lockout)
            what += ", locked"
        audit(session, actor, "sign-in.refused", None, what)
        raise SignInRefused("wrong username or password")
    # Signed in unless a parallel failure locked the account meanwhile.
    unlocked = session.execute(
        update(UserRow)
        .where(
            UserRow.id == user.id,
            or_(UserRow.locked_until.is_(None), UserRow.locked_until <= now),
        )
        .values(failed_sign_ins=0, locked_until=None)
        .execution_options(synchronize_session=False)
    )
    if unlocked.rowcount != 1:  # type: ignore[attr-defined]
        audit(session, actor, "sign-in.locked", None, "")
        raise SignInRefused("too many failed sign-ins: this account is locked for a while")
    session.expire(user, ["failed_sign_ins", "locked_until"])
    if HASHER.check_needs_rehash(user.password_hash):
        user.password_hash = HASHER.hash(password)
    audit(session, actor, "sign-in", None, "")
    return user


def _lock(session: Session, user_id: int, until: datetime) -> None:
    session.execute(
        update(UserRow)
        .where(UserRow.id == user_id)
        .values(locked_until=until)
        .execution_options(synchronize_session=False)
    )


def _count_failure(session: Session, user_id: int, now: datetime) -> int:
    """Add one failed sign-in and answer the count, in one statement; a lock that has run
    out starts the count again."""
    expired = and_(UserRow.locked_until.is_not(None), UserRow.locked_until <= now)
    return int(
        session.execute(
            update(UserRow)
            .where(UserRow.id == user_id)
            .values(
                failed_sign_ins=case((expired, 1), else_=UserRow.failed_sign_ins + 1),
                locked_until=case((expired, None), else_=UserRow.locked_until),
            )
            .returning(UserRow.failed_sign_ins)
            .execution_options(synchronize_session=False)
        ).scalar_one()
    )


def _verify(password_hash: str, password: str) -> bool:
    try:
        return HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


# ----------------------------------------------------------------------------- rate limits


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``attempts`` sign-in attempts per ``window`` for one account or client."""

    attempts: int
    window: timedelta

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.window <= timedelta(0):
            raise InvalidInput("rate limit", "needs at least one attempt in a positive window")


def _attempt_keys(username: str, client: str) -> tuple[str, str]:
    return f"account:{username.strip().lower()[:_NAME_MAX]}", f"client:{client[:_NAME_MAX]}"


def count_sign_in_attempt(
    session: Session, username: str, client: str, per_account: RateLimit, per_client: RateLimit
) -> None:
    """Count one sign-in attempt for the account and for the client address; over either
    limit it is :class:`TooManyAttempts` (the caller commits either way, before the password
    is verified). An attempt that signs in is taken back (:func:`release_sign_in_attempt`),
    so the limits count failures and attempts still under way, never a user's successes."""
    now = utcnow()
    account_key, client_key = _attempt_keys(username, client)
    longest = max(per_account.window, per_client.window)
    session.execute(delete(SignInAttemptRow).where(SignInAttemptRow.window_start < now - longest))
    for key, limit, whose in (
        (account_key, per_account, "account"),
        (client_key, per_client, "address"),
    ):
        attempts = _upsert_attempt(session, key, now, limit.window)
        if attempts > limit.attempts:
            if attempts == limit.attempts + 1:  # one event per window, not one per attempt
                name = username.strip().lower()[:_NAME_MAX] or "-"
                audit(session, Actor(None, name, "-"), "sign-in.rate-limited", None, f"per {whose}")
            minutes = max(1, round(limit.window.total_seconds() / 60))
            raise TooManyAttempts(
                f"too many sign-in attempts for this {whose}: try again in up to {minutes} minutes"
            )


def _upsert_attempt(session: Session, key: str, now: datetime, window: timedelta) -> int:
    table = SignInAttemptRow
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stale = table.window_start < now - window
    statement = (
        insert(table)
        .values(key=key, window_start=now, attempts=1)
        .on_conflict_do_update(
            index_elements=[table.key],
            set_={
                "attempts": case((stale, 1), else_=table.attempts + 1),
                "window_start": case((stale, now), else_=table.window_start),
            },
        )
        .returning(table.attempts)
    )
    return int(session.execute(statement).scalar_one())


def release_sign_in_attempt(session: Session, username: str, client: str) -> None:
    """Take back the attempt counted for a sign-in that succeeded."""
    session.execute(
        update(SignInAttemptRow)
        .where(
            SignInAttemptRow.key.in_(_attempt_keys(username, client)),
            SignInAttemptRow.attempts > 0,
        )
        .values(attempts=SignInAttemptRow.attempts - 1)
        .execution_options(synchronize_session=False)
    )
