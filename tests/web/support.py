"""Helpers for the web tests: a browser-like API client, table row counts, parallel calls."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from benzosafe.store.models import Base

PASSWORD = "correct horse battery"
T = TypeVar("T")


class Api:
    """A browser-like client: keeps the session cookie and sends the CSRF token."""

    def __init__(self, app: FastAPI, address: str = "testclient") -> None:
        self.client = TestClient(app, raise_server_exceptions=False, client=(address, 50000))
        self.csrf = self.client.get("/api/session").json()["csrf_token"]

    def sign_in(self, username: str, password: str = PASSWORD) -> Any:
        response = self.post("/api/session", {"username": username, "password": password})
        if response.status_code == 200:
            self.csrf = response.json()["csrf_token"]
        return response

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.client.post(path, json=body, headers={"X-CSRF-Token": self.csrf}, **kw)

    def form(self, path: str, data: dict[str, Any]) -> Any:
        return self.client.post(
            path,
            data={**data, "csrf_token": self.csrf},
            headers={"accept": "text/html"},
            follow_redirects=False,
        )


def row_counts(app: FastAPI) -> dict[str, int]:
    """Rows in every table: the proof that a refused request changed nothing."""
    with app.state.sessions() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in Base.metadata.sorted_tables
        }


def in_parallel(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run the calls at the same moment, one thread each; answers their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = calls[n]()
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    if errors:
        raise errors[0]
    return results
