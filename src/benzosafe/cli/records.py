"""``benzosafe db``, ``user`` and ``serve``: the records database and the clinician web app.

``db upgrade`` applies the Alembic migrations, ``user add`` adds a sign-in, ``serve`` runs the
web app under uvicorn (optionally filling an empty database with a synthetic clinic).
SQLAlchemy, uvicorn and FastAPI are imported inside the commands.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from typing import Annotated

import typer

from benzosafe.cli.root import app, fail

db_app = typer.Typer(
    help="Migrate the records database. An SQLite file, or BENZOSAFE_DATABASE_URL.",
    no_args_is_help=True,
)
user_app = typer.Typer(help="Add users of the web app.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")


class Role(StrEnum):
    admin = "admin"
    clinician = "clinician"
    admissions = "admissions"


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create the database if needed and apply every migration."""
    from benzosafe.store.db import current_revision, make_engine, upgrade

    engine = make_engine()
    upgrade(engine)
    url = engine.url.render_as_string(hide_password=True)
    typer.echo(f"database {url} at revision {current_revision(engine)}")


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[Role, typer.Option(help="What the user may do.")],
    display_name: Annotated[str, typer.Option(help="Name shown in the app.")] = "",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Add a user (argon2-hashed password, at least 12 characters)."""
    from benzosafe.store import accounts, records
    from benzosafe.store.db import make_engine, session_factory, upgrade

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    engine = make_engine()
    upgrade(engine)
    with session_factory(engine)() as session:
        user = accounts.create_user(
            session, records.SYSTEM, username, password, role.value, display_name
        )
        session.commit()
        typer.echo(f"added user {user.username} ({user.role})")


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool, typer.Option("--demo", help="Fill an empty database with a synthetic clinic.")
    ] = False,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 1,
) -> None:
    """Run the clinician web app. It migrates the database first; the API is described at
    http://HOST:PORT/docs."""
    import copy

    import uvicorn

    from benzosafe.store.db import make_engine, session_factory, upgrade
    from benzosafe.web.clinic.settings import Settings

    settings = Settings.from_env()
    engine = make_engine(settings.database_url)
    upgrade(engine)
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
                typer.echo("Filled the empty database with a synthetic clinic (fake patients).")
            else:
                users = [(u, r, p) for u, r, _, p in demo_data.DEMO_USERS]
        for username, role, password in users:
            typer.echo(f"demo sign-in ({role}): {username} / {password}")
    engine.dispose()
    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    log_config["loggers"]["benzosafe"] = {"handlers": ["default"], "level": "INFO"}
    typer.echo(f"benzosafe on http://{host}:{port}/ (API docs at /docs)")
    uvicorn.run(
        "benzosafe.web.clinic.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=log_config,
    )
