"""State that every worker and every host shares (issue #17): two ``benzosafe serve-cds``
processes of two workers each on one store (PostgreSQL, Redis, and an SQLite file for one
host). A token accepted by one worker is refused by every other, a finding shown at
order-select through one process is not shown again at order-sign through the other, and
feedback is taken anywhere on a card issued anywhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cds_support import CdsProcess, Ehr, clonazepam_with_opioid, issuers_file, topics

from benzosafe.web.cds.store import open_store

PUBLIC = "https://cds.example.org"
EHR = Ehr("https://ehr.example.org/")
REDIS = os.environ.get("BENZOSAFE_TEST_REDIS", "redis://127.0.0.1:6379/0")


def _redis_url() -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS)
    try:
        client.ping()
    except redis.ConnectionError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS} is required in CI: {exc}")
        pytest.skip(f"Redis at {REDIS} is unreachable here")
    prefix = f"benzosafe-test-{uuid.uuid4().hex[:12]}"
    yield f"{REDIS}?prefix={prefix}"
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


@pytest.fixture(params=["postgresql", "redis", "sqlite-file"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "redis":
        yield from _redis_url()
    elif request.param == "postgresql":
        schema = request.getfixturevalue("postgres_schema")
        base = request.getfixturevalue("postgres_base")
        yield f"{base}?options=-csearch_path%3D{schema}"
    else:
        yield str(tmp_path / "cds-state.sqlite3")


def _exchange(
    port: int, method: str, path: str, token: str, body: Any = None, which: bool = True
) -> tuple[int, Any, int]:
    """One request on a new connection: status, JSON body, and (``which``) the pid of the
    worker that holds the connection (read from /proc, so that a test knows which worker
    answered)."""
    data = json.dumps(body).encode() if body is not None else b""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head.encode() + data)
        reader = sock.makefile("rb")
        status = int(reader.readline().split()[1])
        length = 0
        while (line := reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = json.loads(reader.read(length))
        pid = _owner(port, sock.getsockname()[1]) if which else 0
    return status, payload, pid


def _owner(server_port: int, client_port: int) -> int:
    """The pid holding the server side of a loopback connection. /proc/net/tcp is not read
    as one snapshot (entries can be missed while other sockets come and go), so it is read
    again until the connection shows."""
    for _ in range(20):
        inode = _inode(server_port, client_port)
        if inode is not None:
            break
    assert inode is not None, "the connection is not in /proc/net/tcp"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            links = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except OSError:
            continue
        if f"socket:[{inode}]" in links:
            return int(proc.name)
    raise AssertionError("no process holds the connection")


def _inode(server_port: int, client_port: int) -> str | None:
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if state != "01" or fields[9] == "0":
            continue  # not ESTABLISHED: an old connection that had the same client port
        if (
            int(local.split(":")[1], 16) == server_port
            and int(remote.split(":")[1], 16) == client_port
        ):
            return fields[9]
    return None


def test_two_processes_of_two_workers_share_one_store(tmp_path: Path, store_url: str) -> None:
    issuers = issuers_file(tmp_path, EHR)
    args = (
        "--issuers",
        str(issuers),
        "--public-url",
        PUBLIC,
        "--state",
        store_url,
        "--workers",
        "2",
    )
    with CdsProcess(tmp_path, *args) as one, CdsProcess(tmp_path, *args) as two:
        discovery = "/cds-services"
        token = EHR.token(PUBLIC + discovery)
        status, _, first = _exchange(one.port, "GET", discovery, token)
        assert status == 200
        # The same token again, on new connections to both processes, until every worker of
        # both has refused it at least once.
        refused_by: set[int] = set()
        workers = {*_workers(one), *_workers(two)}
        assert len(workers) == 4
        for _ in range(60):
            for server in (one, two):
                status, outcome, pid = _exchange(server.port, "GET", discovery, token)
                assert status == 401 and "replayed" in outcome["issue"][0]["diagnostics"]
                refused_by.add(pid)
            if refused_by == workers:
                break
        assert refused_by == workers, "not every worker was reached"
        assert first in workers

        # Shown at order-select through one process, not shown again through the other.
        select, sign = "/cds-services/benzosafe-order-select", "/cds-services/benzosafe-order-sign"
        patient = f"p-{uuid.uuid4().hex[:8]}"
        status, shown, _ = _exchange(
            one.port, "POST", select, EHR.token(PUBLIC + select),
            clonazepam_with_opioid("order-select", patient=patient), which=False,
        )  # fmt: skip
        assert status == 200 and "concurrent-opioid" in topics(shown["cards"])
        status, signed, _ = _exchange(
            two.port, "POST", sign, EHR.token(PUBLIC + sign),
            clonazepam_with_opioid("order-sign", patient=patient), which=False,
        )  # fmt: skip
        assert status == 200 and signed["cards"] == []

        # Feedback through the other process on a card issued through the first.
        feedback = sign + "/feedback"
        item = {
            "card": shown["cards"][0]["uuid"],
            "outcome": "overridden",
            "outcomeTimestamp": "2026-11-25T10:05:31Z",
        }
        status, stored, _ = _exchange(
            two.port, "POST", feedback, EHR.token(PUBLIC + feedback), {"feedback": [item]},
            which=False,
        )  # fmt: skip
        assert status == 200 and stored == {"stored": 1}
    rows = asyncio.run(_feedback(store_url))
    assert [(r["card"], r["issuer"]) for r in rows] == [(item["card"], EHR.iss)]


def _workers(server: CdsProcess) -> list[int]:
    path = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
    children = [int(p) for p in path.read_text().split()]
    # uvicorn's supervisor may also run a helper process: workers are the ones listening
    return [pid for pid in children if _listens(pid)]


def _listens(pid: int) -> bool:
    try:
        return any("socket:" in os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


async def _feedback(url: str) -> list[dict[str, Any]]:
    store = open_store(url)
    try:
        return await store.feedback()
    finally:
        await store.close()
