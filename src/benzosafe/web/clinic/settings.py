"""Settings of the web app, read from ``BENZOSAFE_*`` environment variables.

Outside development (``BENZOSAFE_ENV`` other than ``development``) the app refuses to start
with the default secret key, and session cookies are sent only over HTTPS.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

from benzosafe.errors import InvalidInput
from benzosafe.store.db import database_url

DEFAULT_SECRET = "development-only-secret-change-me"
ENVIRONMENTS = ("development", "test", "production")


@dataclass(frozen=True, slots=True)
class Settings:
    environment: str = "development"
    secret_key: str = DEFAULT_SECRET
    database_url: str = field(default_factory=database_url)
    max_failed_sign_ins: int = 5
    lockout: timedelta = timedelta(minutes=15)
    session_max_age_s: int = 8 * 3600

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

    @property
    def secure_cookies(self) -> bool:
        return self.environment == "production"

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            environment=env.get("BENZOSAFE_ENV", "development"),
            secret_key=env.get("BENZOSAFE_SECRET_KEY", DEFAULT_SECRET),
            database_url=database_url(),
        )
