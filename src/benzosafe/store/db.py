"""Engines, sessions and migrations.

``database_url()`` is ``BENZOSAFE_DATABASE_URL`` or an SQLite file in the working
directory. SQLite connections run in WAL mode with foreign keys on, a busy timeout and
``synchronous=FULL``. In WAL mode a committed transaction survives the process being killed
whatever the setting (NORMAL is enough for that); FULL also syncs the WAL at every commit, so
that a committed record survives a power cut or an operating-system crash too, which NORMAL
does not promise (it syncs only at checkpoints; see SQLite's ``PRAGMA synchronous``). That is
kept on purpose for clinical records: the sync costs about 0.1 to 0.2 ms of waiting (0.03 ms
of CPU) per commit here (issue #18). The writers of one process take turns on a lock of
their own rather than in SQLite's busy handler. Engines hide
the values bound to a statement from their errors' text and logs, never echo SQL, and their
result rows are never logged, even at DEBUG (no patient data in logs).
:func:`upgrade` applies the Alembic migrations shipped inside the package.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from importlib.resources import files
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_SQLITE_FILE = "benzosafe.db"


def database_url() -> str:
    """The configured database URL (``BENZOSAFE_DATABASE_URL``) or the embedded SQLite file."""
    return os.environ.get("BENZOSAFE_DATABASE_URL") or f"sqlite:///{DEFAULT_SQLITE_FILE}"


#: SQL function on SQLite connections: Python's ``str.lower`` (SQLite's own ``lower()`` and
#: LIKE fold only ASCII letters, so "Ødegaard" or "ÇELIK" would match only as typed).
SQLITE_LOWER = "bz_lower"


def _lower(value: str | None) -> str | None:
    return None if value is None else value.lower()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.create_function(SQLITE_LOWER, 1, _lower, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


# A database error's text (which reaches tracebacks) lists the statement but not the values
# bound to it, and SQL is never echoed: the values are patients' data.
_NO_VALUES_IN_LOGS: dict[str, Any] = {"hide_parameters": True, "echo": False}


def _no_rows(record: logging.LogRecord) -> bool:
    # SQLAlchemy's engine logs each result row at DEBUG (``hide_parameters`` does not cover
    # rows): such a record is dropped before any handler sees it, whatever the log level.
    return record.levelno > logging.DEBUG


logging.getLogger("sqlalchemy.engine.Engine").addFilter(_no_rows)


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_HOLDS = "benzosafe.writer"
_WRITER_LOCKS: weakref.WeakKeyDictionary[Engine, threading.Lock] = weakref.WeakKeyDictionary()


def writer_lock(engine: Engine) -> threading.Lock | None:
    """The lock an SQLite engine's writers take in turn (None for other databases)."""
    return _WRITER_LOCKS.get(engine)


def _one_writer_at_a_time(engine: Engine) -> None:
    """SQLite takes one writer at a time; the others wait in its busy handler, which sleeps
    in steps of up to 100 ms and so leaves the lock idle while a whole queue sleeps. Within
    this process a writer waits here instead, on a lock handed over the moment the previous
    writer's connection goes back to the pool (after its commit or rollback). Writers in
    other processes still meet SQLite's own wait; past 10 s here, SQLite's wait takes over.
    """
    lock = _WRITER_LOCKS[engine] = threading.Lock()

    def take(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if _HOLDS not in conn.info and statement.lstrip()[:7].upper().startswith(_WRITES):
            conn.info[_HOLDS] = lock.acquire(timeout=10)

    def give(_dbapi_connection: Any, record: Any, *_: Any) -> None:
        if record.info.pop(_HOLDS, False):
            lock.release()

    event.listen(engine, "before_cursor_execute", take)
    for moment in ("checkin", "invalidate"):
        event.listen(engine.pool, moment, give)


def make_engine(url: str | None = None) -> Engine:
    """An engine for ``url`` (default :func:`database_url`), SQLite tuned for a web app."""
    url = url or database_url()
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            pool_size=8,
            **_NO_VALUES_IN_LOGS,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        _one_writer_at_a_time(engine)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(
        url, pool_size=10, max_overflow=10, pool_pre_ping=True, **_NO_VALUES_IN_LOGS
    )


# PostgreSQL: unique violation, serialization failure, deadlock, lock not available.
_CONFLICT_STATES = frozenset({"23505", "40001", "40P01", "55P03"})


def is_conflict(exc: BaseException) -> bool:
    """Whether a database error is a clash with a parallel writer (a stale version, a unique
    value someone else just stored, a deadlock or serialization failure, SQLite still busy
    after its time-out), to be answered as a conflict to retry rather than a server error."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.orm.exc import StaleDataError

    if isinstance(exc, StaleDataError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    original = exc.orig
    if getattr(original, "sqlstate", None) in _CONFLICT_STATES:
        return True
    text = str(original)
    return text.startswith("UNIQUE constraint failed") or text == "database is locked"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions that refuse a text value over its column's limit before it is sent, on
    SQLite as on PostgreSQL (:func:`benzosafe.store.limits.refuse_over_long`)."""
    from benzosafe.store.limits import refuse_over_long

    factory = sessionmaker(engine, expire_on_commit=False)
    event.listen(factory, "before_flush", refuse_over_long)
    return factory


def _alembic_config(connection: Any) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(files("benzosafe.store") / "migrations"))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply the migrations up to ``revision`` (creates the database on first run), all or
    nothing: a migration that fails leaves the database as it was, on SQLite as on
    PostgreSQL. (Python's sqlite3 opens a transaction only before a data change, so SQLite's
    DDL would otherwise commit statement by statement: a failure half-way left tables
    created with no revision recorded, a database no later upgrade could take.)"""
    from alembic import command

    with engine.begin() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        command.upgrade(_alembic_config(connection), revision)


def head_revision() -> str:
    """The newest migration shipped with the package."""
    from alembic.script import ScriptDirectory

    config = _alembic_config(None)
    return str(ScriptDirectory.from_config(config).get_current_head())


def current_revision(engine: Engine) -> str | None:
    """The applied migration revision, or None for an empty database."""
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return MigrationContext.configure(connection).get_current_revision()
