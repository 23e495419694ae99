"""The CDS Hooks state in a store that every worker of every host shares: PostgreSQL or Redis.

Same contract as :class:`~benzosafe.web.cds.store.CdsStore`. PostgreSQL keeps four
``cds_*`` tables (created at first use under an advisory lock, so that workers starting
together do not race) in the database and schema the URL names; a replayed token is refused
by one ``INSERT ... ON CONFLICT`` that only an expired row lets through. Redis keeps each
token id, shown finding and issued card as a key that expires by itself (``SET NX`` for the
token ids) and the feedback as one list, appended in one command. Connections are opened in
the serving event loop at first use. A store that cannot be reached is
:class:`~benzosafe.errors.Unavailable` (503), never a silent pass.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from benzosafe.errors import Unavailable
from benzosafe.web.cds.store import FEEDBACK_COLUMNS, CdsStore, feedback_dict, feedback_rows

_PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS cds_jti (jti TEXT PRIMARY KEY, until DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS cds_shown (key TEXT PRIMARY KEY, until DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS cds_issued (
    issuer TEXT NOT NULL, card TEXT NOT NULL, until DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (issuer, card)
);
CREATE TABLE IF NOT EXISTS cds_feedback (
    id BIGSERIAL PRIMARY KEY,
    issuer TEXT,
    service_id TEXT NOT NULL,
    card TEXT NOT NULL,
    outcome TEXT NOT NULL,
    outcome_timestamp TEXT NOT NULL,
    accepted_suggestions TEXT NOT NULL,
    override_code TEXT,
    override_system TEXT,
    override_display TEXT,
    user_comment TEXT,
    received_at DOUBLE PRECISION NOT NULL
);
"""
_PURGE = (
    "WITH a AS (DELETE FROM cds_jti WHERE until < %s), b AS (DELETE FROM cds_shown "
    "WHERE until < %s) DELETE FROM cds_issued WHERE until < %s"
)
_SCHEMA_LOCK = 0x62_7A_63_64  # "bzcd": one advisory lock id for creating the tables


def _redact(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}{parts.path}"


class PostgresStore(CdsStore):
    """The state in PostgreSQL, through a small pool of async connections per worker."""

    def __init__(self, url: str, pool_size: int = 4) -> None:
        self.url = url.replace("postgresql+psycopg://", "postgresql://", 1)
        self._pool_size = pool_size
        self._pool: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Lock | None = None
        self._writes = 0

    async def _connection(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Connections belong to the event loop that opened them (one per worker; a
            # second loop in one process, as in some tests, opens its own).
            self._pool, self._loop, self._ready = None, loop, asyncio.Lock()
        if self._pool is None:
            assert self._ready is not None  # noqa: S101 - set just above for this loop
            async with self._ready:
                if self._pool is None:
                    await self._open()
        return self._pool.connection()

    async def _open(self) -> None:
        from psycopg_pool import AsyncConnectionPool

        pool = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self._pool_size,
            kwargs={"autocommit": True},
            open=False,
            timeout=5.0,
        )
        try:
            await pool.open(wait=True, timeout=5.0)
            async with pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                await conn.execute(_PG_SCHEMA)
        except Exception as exc:
            await pool.close()
            raise Unavailable(
                f"the CDS state store {_redact(self.url)} cannot be reached: {exc}"
            ) from exc
        self._pool = pool

    async def _run(self, sql: str, args: Sequence[Any]) -> Any:
        """One statement (atomic by itself: the connections are in autocommit), its rows."""
        import psycopg

        try:
            async with await self._connection() as conn:
                cursor = await conn.execute(sql, args)
                return await cursor.fetchall() if cursor.description else None
        except (psycopg.OperationalError, TimeoutError) as exc:
            raise Unavailable(f"the CDS state store {_redact(self.url)} failed: {exc}") from exc

    async def use_jti(self, jti: str, until: float) -> bool:
        now = time.time()
        self._writes += 1
        if self._writes % 1000 == 0:
            await self._run(_PURGE, (now, now, now))
        rows = await self._run(
            "INSERT INTO cds_jti AS t (jti, until) VALUES (%s, %s) ON CONFLICT (jti) "
            "DO UPDATE SET until = excluded.until WHERE t.until < %s RETURNING 1",
            (jti, until, now),
        )
        return bool(rows)

    async def already_shown(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        rows = await self._run(
            "SELECT key FROM cds_shown WHERE until >= %s AND key = ANY(%s)",
            (time.time(), list(keys)),
        )
        return {r[0] for r in rows or ()}

    async def remember(
        self, shown: Sequence[str], shown_ttl: float, issuer: str, cards: Sequence[str], ttl: float
    ) -> None:
        if not shown and not cards:
            return
        now = time.time()
        # Both writes in one statement: one round trip, and atomic.
        await self._run(
            "WITH shown AS (INSERT INTO cds_shown (key, until) "
            "SELECT unnest(%s::text[]), %s ON CONFLICT (key) DO UPDATE SET until = excluded.until) "
            "INSERT INTO cds_issued (issuer, card, until) SELECT %s, unnest(%s::text[]), %s "
            "ON CONFLICT (issuer, card) DO UPDATE SET until = excluded.until",
            (list(shown), now + shown_ttl, issuer, list(cards), now + ttl),
        )

    async def issued(self, issuer: str, cards: Sequence[str]) -> set[str]:
        if not cards:
            return set()
        rows = await self._run(
            "SELECT card FROM cds_issued WHERE issuer = %s AND until >= %s AND card = ANY(%s)",
            (issuer, time.time(), list(cards)),
        )
        return {r[0] for r in rows or ()}

    async def add_feedback(self, issuer: str, service_id: str, items: list[dict[str, Any]]) -> int:
        rows = feedback_rows(issuer, service_id, items)
        columns = (*FEEDBACK_COLUMNS, "received_at")
        # One statement for every item: stored all together or not at all.
        await self._run(
            f"INSERT INTO cds_feedback ({', '.join(columns)}) "  # noqa: S608
            f"SELECT * FROM unnest({', '.join(['%s::text[]'] * len(FEEDBACK_COLUMNS))}, "
            "%s::float8[])",
            [list(col) for col in zip(*rows, strict=True)],
        )
        return len(rows)

    async def feedback(self, service_id: str | None = None) -> list[dict[str, Any]]:
        sql = f"SELECT {', '.join(FEEDBACK_COLUMNS)} FROM cds_feedback"  # noqa: S608
        args: tuple[str, ...] = ()
        if service_id is not None:
            sql += " WHERE service_id = %s"
            args = (service_id,)
        rows = await self._run(sql + " ORDER BY id", args)
        return [feedback_dict(row) for row in rows or ()]

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def _digest(text: str) -> str:
    # Keys stay short and free of separators whatever the issuer URL or key holds.
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class RedisStore(CdsStore):
    """The state in Redis: one key per token id, shown finding and issued card, each
    expiring by itself; feedback in one list. ``?prefix=NAME`` in the URL names the key
    prefix (default ``benzosafe:cds:``), so that several deployments can share a server."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = parse_qsl(parts.query)
        prefix = next((v for k, v in query if k == "prefix"), "benzosafe:cds")
        rest = urlencode([(k, v) for k, v in query if k != "prefix"])
        self.url = urlunsplit(parts._replace(query=rest))
        self.prefix = prefix.rstrip(":") + ":"
        self._client: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _redis(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            import redis.asyncio

            # Connections belong to the event loop that opened them (see PostgresStore).
            self._client = redis.asyncio.Redis.from_url(
                self.url, socket_timeout=5.0, socket_connect_timeout=5.0
            )
            self._loop = loop
        return self._client

    async def _call(self, action: Any) -> Any:
        import redis

        try:
            return await action(self._redis())
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            raise Unavailable(f"the CDS state store {_redact(self.url)} failed: {exc}") from exc

    async def use_jti(self, jti: str, until: float) -> bool:
        key = f"{self.prefix}jti:{_digest(jti)}"
        ms = int((until - time.time()) * 1000)
        if ms <= 0:
            return True  # already past: nothing to remember (the SQL stores replace such rows)
        done = await self._call(lambda r: r.set(key, b"1", nx=True, px=ms))
        return bool(done)

    async def already_shown(self, keys: Sequence[str]) -> set[str]:
        if not keys:
            return set()
        names = [f"{self.prefix}shown:{k}" for k in keys]
        values = await self._call(lambda r: r.mget(names))
        return {k for k, v in zip(keys, values, strict=True) if v is not None}

    async def remember(
        self, shown: Sequence[str], shown_ttl: float, issuer: str, cards: Sequence[str], ttl: float
    ) -> None:
        if not shown and not cards:
            return
        owner = _digest(issuer)

        async def write(r: Any) -> None:
            async with r.pipeline(transaction=True) as pipe:
                for k in shown:
                    pipe.set(f"{self.prefix}shown:{k}", b"1", px=max(1, int(shown_ttl * 1000)))
                for c in cards:
                    pipe.set(f"{self.prefix}issued:{owner}:{c}", b"1", px=max(1, int(ttl * 1000)))
                await pipe.execute()

        await self._call(write)

    async def issued(self, issuer: str, cards: Sequence[str]) -> set[str]:
        if not cards:
            return set()
        owner = _digest(issuer)
        values = await self._call(
            lambda r: r.mget([f"{self.prefix}issued:{owner}:{c}" for c in cards])
        )
        return {c for c, v in zip(cards, values, strict=True) if v is not None}

    async def add_feedback(self, issuer: str, service_id: str, items: list[dict[str, Any]]) -> int:
        rows = feedback_rows(issuer, service_id, items)
        values = [json.dumps(list(row[: len(FEEDBACK_COLUMNS)])) for row in rows]
        await self._call(lambda r: r.rpush(f"{self.prefix}feedback", *values))  # one command
        return len(rows)

    async def feedback(self, service_id: str | None = None) -> list[dict[str, Any]]:
        raw = await self._call(lambda r: r.lrange(f"{self.prefix}feedback", 0, -1))
        out = [feedback_dict(json.loads(v)) for v in raw]
        return [f for f in out if service_id is None or f["service_id"] == service_id]

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
