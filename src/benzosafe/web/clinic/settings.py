"""Settings of the web app, read from ``BENZOSAFE_*`` environment variables.

Outside development (``BENZOSAFE_ENV`` other than ``development``) the app refuses to start
with the default secret key, and session cookies are sent only over HTTPS.

Signing in is limited per account and per client address (failed attempts and attempts under
way, in a fixed window): ``BENZOSAFE_SIGN_IN_ATTEMPTS_PER_ACCOUNT`` (default 10),
``BENZOSAFE_SIGN_IN_ATTEMPTS_PER_CLIENT`` (default 30) and ``BENZOSAFE_SIGN_IN_WINDOW_S``
(default 900). Behind a proxy, run uvicorn with ``--proxy-headers`` and
``--forwarded-allow-ips`` so that the client address is the user's, not the proxy's.

Sessions live in the database and end after ``BENZOSAFE_SESSION_IDLE_S`` seconds without a
request (default 1800: 30 minutes) or ``BENZOSAFE_SESSION_ABSOLUTE_S`` seconds after sign-in
(default 43200: 12 hours), whichever comes first. These are a deployment choice (a shared
ward computer wants them short, a single-user office may accept longer), not a clinical
fact. A session's last-seen time is written at most once a minute
(``session_touch_interval``), so the idle time-out holds to within that minute.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

from benzosafe.errors import InvalidInput
from benzosafe.store.accounts import RateLimit
from benzosafe.store.db import database_url
from benzosafe.store.user_sessions import SessionPolicy

DEFAULT_SECRET = "development-only-secret-change-me"
ENVIRONMENTS = ("development", "test", "production")
PREFIX = "BENZOSAFE_SIGN_IN_ATTEMPTS"


@dataclass(frozen=True, slots=True)
class Settings:
    environment: str = "development"
    secret_key: str = DEFAULT_SECRET
    database_url: str = field(default_factory=database_url)
    max_failed_sign_ins: int = 5
    lockout: timedelta = timedelta(minutes=15)
    session_idle_timeout: timedelta = timedelta(minutes=30)
    session_absolute_timeout: timedelta = timedelta(hours=12)
    session_touch_interval: timedelta = timedelta(minutes=1)
    sign_ins_per_account: RateLimit = field(
        default_factory=lambda: RateLimit(10, timedelta(minutes=15))
    )
    sign_ins_per_client: RateLimit = field(
        default_factory=lambda: RateLimit(30, timedelta(minutes=15))
    )

    def __post_init__(self) -> None:
        if self.environment not in ENVIRONMENTS:
            raise InvalidInput("BENZOSAFE_ENV", f"unknown {self.environment!r}", ENVIRONMENTS)
        if self.environment != "development" and self.secret_key == DEFAULT_SECRET:
            raise InvalidInput(
                "BENZOSAFE_SECRET_KEY",
                f"the default secret is refused outside development ({self.environment}); "
                "set a long random value",
            )
        if len(self.secret_key) < 16:
            raise InvalidInput("BENZOSAFE_SECRET_KEY", "must be at least 16 characters")
        _ = self.session_policy  # refuses time-outs that cannot work

    @property
    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(
            self.session_idle_timeout, self.session_absolute_timeout, self.session_touch_interval
        )

    @property
    def secure_cookies(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        window = timedelta(seconds=_number("BENZOSAFE_SIGN_IN_WINDOW_S", 900))
        return cls(
            environment=env.get("BENZOSAFE_ENV", "development"),
            secret_key=env.get("BENZOSAFE_SECRET_KEY", DEFAULT_SECRET),
            database_url=database_url(),
            sign_ins_per_account=RateLimit(_number(f"{PREFIX}_PER_ACCOUNT", 10), window),
            sign_ins_per_client=RateLimit(_number(f"{PREFIX}_PER_CLIENT", 30), window),
            session_idle_timeout=timedelta(seconds=_number("BENZOSAFE_SESSION_IDLE_S", 1800)),
            session_absolute_timeout=timedelta(
                seconds=_number("BENZOSAFE_SESSION_ABSOLUTE_S", 12 * 3600)
            ),
        )


def _number(name: str, default: int) -> int:
    """A positive whole number from the environment variable ``name``."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(name, f"{text!r} is not a positive whole number")
    return int(text)
