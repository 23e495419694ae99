"""The CDS Hooks state stores keep one contract: SQLite (file and memory), PostgreSQL and Redis,
each real. Token ids are used once until they expire, shown findings and issued cards expire,
issued cards belong to one issuer, and feedback is stored with its issuer, all or nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_cds_shared_state import _redis_url

from benzosafe.errors import Unavailable
from benzosafe.web.cds.store import CdsStore, open_store


@pytest.fixture(params=["sqlite-memory", "sqlite-file", "postgresql", "redis"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "redis":
        yield from _redis_url()
    elif request.param == "postgresql":
        schema = request.getfixturevalue("postgres_schema")
        yield f"{request.getfixturevalue('postgres_base')}?options=-csearch_path%3D{schema}"
    elif request.param == "sqlite-file":
        yield str(tmp_path / "state.sqlite3")
    else:
        yield ":memory:"


def _run(url: str, steps: Any) -> Any:
    async def go() -> Any:
        store = open_store(url)
        try:
            return await steps(store)
        finally:
            await store.close()

    return asyncio.run(go())


def test_a_token_id_is_used_once_until_it_expires(url: str) -> None:
    async def steps(store: CdsStore) -> list[bool]:
        now = time.time()
        return [
            await store.use_jti("iss\x1fa", now + 60),
            await store.use_jti("iss\x1fa", now + 60),
            await store.use_jti("iss\x1fb", now + 60),
            await store.use_jti("iss\x1fgone", now - 1),  # already past: a fresh use...
            await store.use_jti("iss\x1fgone", now + 60),  # ...so this one is not a replay
        ]

    assert _run(url, steps) == [True, False, True, True, True]


def test_shown_and_issued_expire_and_issued_cards_belong_to_their_issuer(url: str) -> None:
    async def steps(store: CdsStore) -> tuple[set[str], ...]:
        await store.remember(["k1", "k2"], 60, "A", ["c1", "c2"], 60)
        await store.remember(["old"], 0.3, "B", ["c3"], 0.3)
        await asyncio.sleep(0.5)
        return (
            await store.already_shown(["k1", "k2", "k3", "old"]),
            await store.issued("A", ["c1", "c2", "c3"]),
            await store.issued("B", ["c1", "c3"]),
        )

    shown, issued_a, issued_b = _run(url, steps)
    assert shown == {"k1", "k2"}
    assert issued_a == {"c1", "c2"}
    assert issued_b == set()


def test_feedback_is_stored_with_its_issuer_in_order(url: str) -> None:
    items: list[dict[str, Any]] = [
        {
            "card": "c1",
            "outcome": "overridden",
            "outcomeTimestamp": "2026-11-25T10:05:31Z",
            "overrideReason": {
                "reason": {"code": "palliative-care", "system": "urn:x"},
                "userComment": "hospice",
            },
        },
        {
            "card": "c2",
            "outcome": "accepted",
            "outcomeTimestamp": "2026-11-25T10:06:00Z",
            "acceptedSuggestions": [{"id": "s-1"}],
        },
    ]

    async def steps(store: CdsStore) -> tuple[int, list[dict[str, Any]], list[dict[str, Any]]]:
        stored = await store.add_feedback("https://ehr.example.org/", "svc", items)
        return stored, await store.feedback(), await store.feedback("other")

    stored, rows, other = _run(url, steps)
    assert stored == 2 and other == []
    assert [(r["card"], r["issuer"], r["service_id"]) for r in rows] == [
        ("c1", "https://ehr.example.org/", "svc"),
        ("c2", "https://ehr.example.org/", "svc"),
    ]
    assert rows[0]["override_code"] == "palliative-care" and rows[0]["user_comment"] == "hospice"
    assert rows[1]["accepted_suggestions"] == [{"id": "s-1"}]


@pytest.mark.parametrize(
    "down", ["postgresql://postgres@127.0.0.1:1/test", "redis://127.0.0.1:1/0"]
)
def test_a_store_that_cannot_be_reached_is_unavailable_not_a_pass(down: str) -> None:
    async def steps(store: CdsStore) -> bool:
        return await store.use_jti("iss\x1fa", time.time() + 60)

    with pytest.raises(Unavailable):
        _run(down, steps)
