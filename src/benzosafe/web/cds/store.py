"""The CDS Hooks service's own small SQLite store: feedback, shown findings, used token ids.

Self-contained (stdlib ``sqlite3``), one file (WAL) or ``:memory:``. ``feedback`` keeps what
clinicians did with the cards; ``shown`` remembers which finding was shown at order-select for
which draft, so that order-sign does not show it again; ``jti`` remembers the ids of accepted
JWTs until they expire, so a replayed token is refused. Every write is one transaction.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
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
"""


class CdsStore:
    """Thread-safe access to one SQLite database (a lock around one connection)."""

    def __init__(self, path: str = ":memory:") -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        self._writes = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _purge(self, now: float) -> None:
        self._writes += 1
        if self._writes % 1000 == 0:
            self._db.execute("DELETE FROM shown WHERE until < ?", (now,))
            self._db.execute("DELETE FROM jti WHERE until < ?", (now,))

    def use_jti(self, jti: str, until: float) -> bool:
        """Record a token id; False when it was already used (a replay)."""
        now = time.time()
        with self._lock:
            self._purge(now)
            row = self._db.execute("SELECT until FROM jti WHERE jti = ?", (jti,)).fetchone()
            if row is not None and row[0] >= now:
                return False
            self._db.execute("INSERT OR REPLACE INTO jti (jti, until) VALUES (?, ?)", (jti, until))
            return True

    def remember_shown(self, keys: Iterable[str], ttl_seconds: float) -> None:
        until = time.time() + ttl_seconds
        with self._lock:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT OR REPLACE INTO shown (key, until) VALUES (?, ?)",
                [(k, until) for k in keys],
            )
            self._db.execute("COMMIT")

    def already_shown(self, keys: Iterable[str]) -> set[str]:
        wanted = list(keys)
        if not wanted:
            return set()
        now = time.time()
        marks = ",".join("?" * len(wanted))
        with self._lock:
            rows = self._db.execute(
                f"SELECT key FROM shown WHERE until >= ? AND key IN ({marks})", (now, *wanted)
            ).fetchall()
        return {r[0] for r in rows}

    def add_feedback(self, service_id: str, items: list[dict[str, Any]]) -> int:
        """Store every feedback item of one POST, all or nothing."""
        now = time.time()
        rows = []
        for item in items:
            reason = item.get("overrideReason") or {}
            coding = reason.get("reason") or {}
            rows.append(
                (
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
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    "INSERT INTO feedback (service_id, card, outcome, outcome_timestamp, "
                    "accepted_suggestions, override_code, override_system, override_display, "
                    "user_comment, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return len(rows)

    def feedback(self, service_id: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT service_id, card, outcome, outcome_timestamp, accepted_suggestions, "
        query += "override_code, override_system, override_display, user_comment FROM feedback"
        args: tuple[str, ...] = ()
        if service_id is not None:
            query += " WHERE service_id = ?"
            args = (service_id,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", args).fetchall()
        keys = (
            *("service_id", "card", "outcome", "outcome_timestamp", "accepted_suggestions"),
            *("override_code", "override_system", "override_display", "user_comment"),
        )
        out = []
        for row in rows:
            item = dict(zip(keys, row, strict=True))
            item["accepted_suggestions"] = json.loads(item["accepted_suggestions"])
            out.append(item)
        return out
