"""``benzosafe db``, ``user`` and ``serve``: the records database and the clinician web app.

``db upgrade`` applies the Alembic migrations, ``user add`` adds a sign-in, ``serve`` runs the
web app under uvicorn (optionally filling an empty database with a synthetic clinic).
SQLAlchemy, uvicorn and FastAPI are imported inside the commands.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from benzosafe.cli.params import Command, argument, flag, group, option
from benzosafe.cli.root import fail

if TYPE_CHECKING:
    from sqlalchemy import Engine

db_app = group(
    "db", help="Migrate the records database. An SQLite file, or BENZOSAFE_DATABASE_URL."
)
user_app = group("user", help="Add users of the web app.")
ROLES = ("admin", "clinician", "admissions")


def migrate(engine: Engine) -> None:
    """Apply every migration, or exit 2 saying which failed, that nothing was changed (the
    migrations run in one transaction on SQLite and PostgreSQL) and the revision kept."""
    from sqlalchemy.exc import SQLAlchemyError

    from benzosafe.store.db import current_revision, head_revision, upgrade

    try:
        upgrade(engine)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        kept = current_revision(engine) or "none (empty database)"
        fail(
            f"database: the migration to {head_revision()} failed and nothing was changed "
            f"(revision still {kept}): {reason}"
        )


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database if needed and apply every migration."""
    from benzosafe.store.db import current_revision, make_engine

    engine = make_engine()
    migrate(engine)
    url = engine.url.render_as_string(hide_password=True)
    click.echo(f"database {url} at revision {current_revision(engine)}")


@user_app.command("add")
@argument("username", help="Sign-in name.")
@option("--role", kind=ROLES, required=True, help="What the user may do.")
@option("--display-name", default="", help="Name shown in the app.")
@flag("--password-stdin", help="Read the password from standard input.")
def user_add(username: str, role: str, display_name: str, password_stdin: bool) -> None:
    """Add a user (argon2-hashed password, at least 12 characters)."""
    from benzosafe.store import accounts, records
    from benzosafe.store.db import make_engine, session_factory

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = make_engine()
    migrate(engine)
    with session_factory(engine)() as session:
        user = accounts.create_user(session, records.SYSTEM, username, password, role, display_name)
        session.commit()
        click.echo(f"added user {user.username} ({user.role})")


@click.command("serve", cls=Command)
@option("--host", default="127.0.0.1", help="Address to listen on.")
@option("--port", kind=int, default=8000, help="Port to listen on.")
@flag("--demo", help="Fill an empty database with a synthetic clinic.")
# 2: with 1 the web app missed its target (p95 <= 100 ms per page at 40 sessions on 2 cores)
# where 2 met it, on SQLite and PostgreSQL (docs/benchmarks.md, issue #18).
@option("--workers", kind=int, default=2, help="Worker processes.")
def serve(host: str, port: int, demo: bool, workers: int) -> None:
    """Run the clinician web app. It migrates the database first; the API is described at
    http://HOST:PORT/docs."""
    import uvicorn

    from benzosafe.store.db import make_engine, session_factory
    from benzosafe.web.clinic.settings import Settings
    from benzosafe.web.logs import log_config

    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    migrate(engine)
    if demo:
        if settings.environment != "development":
            fail("--demo: refused outside development (BENZOSAFE_ENV)")
        from benzosafe.knowledge import load
        from benzosafe.store import demo as demo_data

        with session_factory(engine)() as session:
            if demo_data.is_empty(session):
                users = demo_data.add_demo_users(session)
                demo_data.add_demo_patients(session, 60, load())
                session.commit()
                click.echo("Filled the empty database with a synthetic clinic (fake patients).")
            else:
                users = [(u, r, p) for u, r, _, p in demo_data.DEMO_USERS]
        for username, role, password in users:
            click.echo(f"demo sign-in ({role}): {username} / {password}")
    engine.dispose()
    click.echo(f"benzosafe on http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(
        "benzosafe.web.clinic.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,  # it would write paths (ids) and query strings (names searched for)
        log_config=log_config(),
    )
