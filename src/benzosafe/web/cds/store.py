"""The CDS Hooks service's state: used token ids, shown findings, issued cards, feedback.

``jti`` remembers the ids of accepted JWTs until they expire, so that a replayed token is
refused; ``shown`` remembers which finding was shown at order-select for which issuer,
patient and draft, so that order-sign does not show it again to the same EHR; ``issued``
remembers which card uuids were sent to which issuer, so that feedback is taken only on
those; ``feedback`` keeps what clinicians did with the cards, with the issuer. Every write
is one transaction. :func:`open_store` picks the backend by URL: an SQLite file (WAL) or
``:memory:`` for one process (the embedded default), or ``postgresql://`` / ``redis://``
(:mod:`.store_shared`), which every worker of every host shares. The methods are
coroutines so that a networked store never blocks the event loop.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service_id TEXT NOT NULL,
    card TEXT NOT NULL,
    outcome TEXT NOT NULL,
    outcome_timestamp TEXT NOT NULL,
    accepted_suggestions TEXT NOT NULL,
    override_code TEXT,
    override_system TEXT,
    override_display TEXT,
    user_comment TEXT,
    received_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS shown (key TEXT PRIMARY KEY, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS jti (jti TEXT PRIMARY KEY, until REAL NOT NULL);
CREATE TABLE IF NOT EXISTS issued (
    issuer TEXT NOT NULL, card TEXT NOT NULL, until REAL NOT NULL, PRIMARY KEY (issuer, card)
);
"""

FEEDBACK_COLUMNS = (
    *("issuer", "service_id", "card", "outcome", "outcome_timestamp", "accepted_suggestions"),
    *("override_code", "override_system", "override_display", "user_comment"),
)


def feedback_rows(
    issuer: str, service_id: str, items: list[dict[str, Any]]
) -> list[tuple[Any, ...]]:
    """One row per feedback item, in :data:`FEEDBACK_COLUMNS` order (then ``received_at``)."""
    now = time.time()
    rows = []
    for item in items:
        reason = item.get("overrideReason") or {}
        coding = reason.get("reason") or {}
        rows.append(
            (
                issuer,
                service_id,
                item["card"],
                item["outcome"],
                item["outcomeTimestamp"],
                json.dumps(item.get("acceptedSuggestions") or []),
                coding.get("code"),
                coding.get("system"),
                coding.get("display"),
                reason.get("userComment"),
                now,
            )
        )
    return rows


def feedback_dict(row: Sequence[Any]) -> dict[str, Any]:
    item = dict(zip(FEEDBACK_COLUMNS, row, strict=True))
    item["accepted_suggestions"] = json.loads(item["accepted_suggestions"])
    return item


class CdsStore(ABC):
    """What the service keeps between calls; one instance per worker process."""

    url: str

    @abstractmethod
    async def use_jti(self, jti: str, until: float) -> bool:
        """Record a token id until ``until`` (epoch seconds); False when it was already used
        (a replay), whichever worker or host saw it first."""

    @abstractmethod
    async def already_shown(self, keys: Sequence[str]) -> set[str]:
        """Which of these finding keys were shown (and have not expired)."""

    @abstractmethod
    async def remember(
        self, shown: Sequence[str], shown_ttl: float, issuer: str, cards: Sequence[str], ttl: float
    ) -> None:
        """Record shown finding keys and the uuids of the cards sent to ``issuer``, at once."""

    @abstractmethod
    async def issued(self, issuer: str, cards: Sequence[str]) -> set[str]:
        """Which of these card uuids were sent to ``issuer`` (and have not expired)."""

    @abstractmethod
    async def add_feedback(self, issuer: str, service_id: str, items: list[dict[str, Any]]) -> int:
        """Store every feedback item of one POST, all or nothing; the number stored."""

    @abstractmethod
    async def feedback(self, service_id: str | None = None) -> list[dict[str, Any]]:
        """Every stored feedback item (of one service), oldest first."""

    async def close(self) -> None:  # noqa: B027 - a store without connections has nothing to do
        """Release connections."""


class SqliteStore(CdsStore):
    """One SQLite database behind a lock: a file (WAL; the workers of one host may share it)
    or ``:memory:`` (one process). Its calls take microseconds, so they run inline."""

    def __init__(self, path: str = ":memory:") -> None:
        self.url = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(feedback)")}
        if "issuer" not in columns:  # a state file from before feedback carried its issuer
            self._db.execute("ALTER TABLE feedback ADD COLUMN issuer TEXT")
        self._writes = 0

    async def close(self) -> None:
        with self._lock:
            self._db.close()

    def _purge(self, now: float) -> None:
        self._writes += 1
        if self._writes % 1000 == 0:
            for table in ("shown", "jti", "issued"):
                self._db.execute(f"DELETE FROM {table} WHERE until < ?", (now,))

    async def use_jti(self, jti: str, until: float) -> bool:
        now = time.time()
        with self._lock:
            self._purge(now)
            # One statement: a row still in force is kept (a replay), an expired one replaced.
            cursor = self._db.execute(
                "INSERT INTO jti (jti, until) VALUES (?, ?) ON CONFLICT (jti) DO UPDATE "
                "SET until = excluded.until WHERE jti.until < ?",
                (jti, until, now),
            )
            return cursor.rowcount == 1

    async def already_shown(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        marks = ",".join("?" * len(keys))
        with self._lock:
            rows = self._db.execute(
                f"SELECT key FROM shown WHERE until >= ? AND key IN ({marks})",
                (time.time(), *keys),
            ).fetchall()
        return {r[0] for r in rows}

    async def remember(
        self, shown: Sequence[str], shown_ttl: float, issuer: str, cards: Sequence[str], ttl: float
    ) -> None:
        if not shown and not cards:
            return
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO shown (key, until) VALUES (?, ?)",
                    [(k, now + shown_ttl) for k in shown],
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO issued (issuer, card, until) VALUES (?, ?, ?)",
                    [(issuer, c, now + ttl) for c in cards],
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    async def issued(self, issuer: str, cards: Sequence[str]) -> set[str]:
        if not cards:
            return set()
        marks = ",".join("?" * len(cards))
        with self._lock:
            rows = self._db.execute(
                f"SELECT card FROM issued WHERE issuer = ? AND until >= ? AND card IN ({marks})",
                (issuer, time.time(), *cards),
            ).fetchall()
        return {r[0] for r in rows}

    async def add_feedback(self, issuer: str, service_id: str, items: list[dict[str, Any]]) -> int:
        rows = feedback_rows(issuer, service_id, items)
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    f"INSERT INTO feedback ({', '.join(FEEDBACK_COLUMNS)}, received_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return len(rows)

    async def feedback(self, service_id: str | None = None) -> list[dict[str, Any]]:
        query = f"SELECT {', '.join(FEEDBACK_COLUMNS)} FROM feedback"
        args: tuple[str, ...] = ()
        if service_id is not None:
            query += " WHERE service_id = ?"
            args = (service_id,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        return [feedback_dict(row) for row in rows]


def open_store(url: str) -> CdsStore:
    """The store a URL names: ``postgresql://...`` or ``redis://...`` (shared by every worker
    and host), else an SQLite file path (or ``sqlite:///path``, or ``:memory:``)."""
    if url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        from benzosafe.web.cds.store_shared import PostgresStore

        return PostgresStore(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from benzosafe.web.cds.store_shared import RedisStore

        return RedisStore(url)
    return SqliteStore(url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url)
