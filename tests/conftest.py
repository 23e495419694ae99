"""Fixtures shared by the store and web tests: a migrated database on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

PG_BASE = os.environ.get(
    "BENZOSAFE_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", "postgresql"]


def _postgres_schema() -> Iterator[str]:
    """A new, empty schema in the test PostgreSQL, dropped afterwards.

    Skips when PostgreSQL is unreachable here; fails instead when CI=true.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.exc import OperationalError

    schema = f"bz_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_BASE)
    try:
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    except OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL at {PG_BASE} is required in CI: {exc}")
        pytest.skip(f"PostgreSQL at {PG_BASE} is unreachable here: {type(exc).__name__}")
    try:
        yield schema
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="module")
def postgres_schema() -> Iterator[str]:
    """A PostgreSQL schema of the test module's own (``PG_BASE``), dropped after the module."""
    yield from _postgres_schema()


@pytest.fixture(scope="session")
def postgres_base() -> str:
    return PG_BASE


def _postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    for schema in _postgres_schema():
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated, empty database: an SQLite file, then a PostgreSQL schema of its own."""
    from benzosafe.store.db import make_engine, upgrade

    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "benzosafe.db"
        urls: Iterator[str] = iter([f"sqlite:///{path}"])
    else:
        urls = _postgres_url(tmp_path_factory)
    url = next(urls)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    for _ in urls:  # runs the PostgreSQL clean-up
        pass


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of the test's own, not yet migrated: an SQLite file, then a
    PostgreSQL schema (for a test that needs a fresh database, not the shared one)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'own.db'}"
        return
    for schema in _postgres_schema():
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"


@pytest.fixture(scope="module", params=BACKENDS)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database for one test module, not yet migrated (a demo server's): an SQLite
    file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('module-db') / 'own.db'}"
        return
    for schema in _postgres_schema():
        yield f"{PG_BASE}?options=-csearch_path%3D{schema}"
