"""Load benchmark of the web app: many concurrent signed-in sessions on a 10,000-patient
database. Prints p50/p95 latency per page, the errors and the machine's load average before
and after the run; asserts nothing.

Target (issue #5): p95 at or under 100 ms per page, no errors.

    .venv/bin/python bench/web_load.py [--sessions 40] [--think 0.2] [--seconds 30]
        [--patients 10000] [--workers 1] [--database-url URL] [--profile FILE]

It builds a fresh database (an SQLite file in a temporary folder, or a new schema in the
PostgreSQL database at ``--database-url``, dropped afterwards), fills it with the synthetic
clinic, starts ``benzosafe serve`` on a free port on 127.0.0.1, and drives it with asyncio
clients that sign in and then loop over the pages a clinician uses (with ``--think`` seconds
between requests); the run is bounded in time and stops by itself. The clients run on the
same cores as the server: the CPU each side used per request is printed apart. ``--profile
FILE`` samples the server (and its workers) with py-spy during the run, only the thread
holding the GIL, writes the raw stacks to FILE and prints where the server's Python CPU
went.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

import httpx2
from sqlalchemy import text

from benzosafe.knowledge import load
from benzosafe.store import demo
from benzosafe.store.db import make_engine, session_factory, upgrade
from profiling import print_profile, py_spy


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by process ``pid`` and its children (Linux)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def postgres_cpu_seconds() -> float:
    """CPU time used so far by every PostgreSQL process on this machine (anyone's queries),
    with that of the backends that have ended (counted to the postmaster, their parent)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if text.split(" (", 1)[1].startswith("postgres)"):
            fields = text.rsplit(")", 1)[1].split()
            ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))  # own and ended children's
            total += ticks / os.sysconf("SC_CLK_TCK")
    return total


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used so far (all cores, Linux)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fresh_schema(url: str) -> tuple[str, str]:
    """A new, empty schema in the PostgreSQL database at ``url``: its name, and the URL that
    works in it (every run starts from the same clinic, not the last run's doses)."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    admin.dispose()
    return schema, f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def drop_schema(url: str, schema: str) -> None:
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


def build(url: str, patients: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as session:
        if demo.is_empty(session):
            demo.add_demo_users(session)
            demo.add_demo_patients(session, patients, load(), detailed=300)
            session.commit()
    engine.dispose()


PAGES = (
    "GET /patients?q=",
    "GET /patients/{id}",
    "GET /api/patients/{id}/chart",
    "GET /api/patients?q=",
    "POST /api/patients/{id}/doses",
    "POST /api/patients/{id}/assessments",
    "GET /drugs/clonazepam",
)
HTML = {"accept": "text/html"}
REASONS: dict[str, int] = {}  # what the errors were
SIGN_INS = asyncio.Semaphore(2)


async def request(
    client: httpx2.AsyncClient, page: str, pid: int, q: str, token: str
) -> httpx2.Response:
    csrf = {"X-CSRF-Token": token}
    match page:
        case "GET /patients?q=":
            return await client.get("/patients", params={"q": q}, headers=HTML)
        case "GET /patients/{id}":
            return await client.get(f"/patients/{pid}", headers=HTML)
        case "GET /api/patients/{id}/chart":
            return await client.get(f"/api/patients/{pid}/chart")
        case "GET /api/patients?q=":
            return await client.get("/api/patients", params={"q": q})
        case "POST /api/patients/{id}/doses":
            dose = {"day": "2026-11-20", "daily_dose": "1 mg/day"}
            return await client.post(f"/api/patients/{pid}/doses", json=dose, headers=csrf)
        case "POST /api/patients/{id}/assessments":
            ciwa = {"instrument": "ciwa-b", "answers": [1] * 20}
            return await client.post(f"/api/patients/{pid}/assessments", json=ciwa, headers=csrf)
        case _:
            return await client.get("/drugs/clonazepam", headers=HTML)


async def run_session(
    base: str, n: int, patients: int, start: asyncio.Event, seconds: float, think: float,
    lat: dict[str, list[float]], errors: dict[str, int], ready: list[int],
) -> None:  # fmt: skip
    rng = random.Random(n)
    # The client lets an idle connection go before the server's 5 s keep-alive does: a
    # session idle while the others sign in would otherwise send its first request on a
    # connection the server is closing at that moment (a ReadError, 1 in 4,000 requests).
    limits = httpx2.Limits(keepalive_expiry=4.0)
    async with httpx2.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        # A few sign-ins at a time: each costs an argon2 hash (slow on purpose), and forty
        # at once on two cores is a sign-in storm, not the clinic's day being measured.
        async with SIGN_INS:
            token = (await client.get("/api/session")).json()["csrf_token"]
            response = await client.post(
                "/api/session",
                json={"username": "clinician", "password": "demo-clinician-password"},
                headers={"X-CSRF-Token": token},
            )
        if response.status_code != 200:
            raise SystemExit(f"session {n} could not sign in: {response.text}")
        token = response.json()["csrf_token"]
        ready.append(n)
        await start.wait()  # sign-ins (argon2, deliberately slow) are not what is measured
        until = time.monotonic() + seconds
        await asyncio.sleep(rng.uniform(0, 2 * think))  # sessions do not start in lockstep
        while time.monotonic() < until:
            hot = rng.random() < 0.7  # most work is on the patients under care
            pid = rng.randint(1, min(patients, 300)) if hot else rng.randint(1, patients)
            q = rng.choice(["demo-oak", "ada", "demo-00"])
            page = rng.choice(PAGES)
            started = time.perf_counter()
            try:
                result = await request(client, page, pid, q, token)
                ok = result.status_code < 400
                why = f"HTTP {result.status_code}"
            except httpx2.HTTPError as exc:
                ok, why = False, type(exc).__name__
            if not ok:
                REASONS[why] = REASONS.get(why, 0) + 1
            lat[page].append((time.perf_counter() - started) * 1000)
            if not ok:
                errors[page] += 1
            if think:
                await asyncio.sleep(rng.uniform(0, 2 * think))


Results = tuple[dict[str, list[float]], dict[str, int], float, dict[str, float]]


async def drive(
    base: str, sessions: int, patients: int, seconds: float, think: float, server_pid: int
) -> Results:
    """Sign the sessions in, then run them; answers the latencies, the errors, the time the
    run took, and the CPU seconds used in it (sign-ins not included) by the server, this
    client process, the PostgreSQL processes and the whole machine."""
    lat: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    start, ready = asyncio.Event(), list[int]()
    tasks = [
        asyncio.create_task(
            run_session(base, n, patients, start, seconds, think, lat, errors, ready)
        )
        for n in range(sessions)
    ]
    while len(ready) < sessions and not any(t.done() for t in tasks):
        await asyncio.sleep(0.05)

    def cpu() -> dict[str, float]:
        return {"server": cpu_seconds(server_pid), "client": time.process_time(),
                "postgres": postgres_cpu_seconds(), "machine": machine_busy_seconds()}  # fmt: skip

    started, before = time.monotonic(), cpu()
    start.set()
    await asyncio.gather(*tasks)
    took, after = time.monotonic() - started, cpu()
    return lat, errors, took, {key: after[key] - before[key] for key in before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--think", type=float, default=0.2)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--profile", default=None, help="py-spy the server to FILE")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="benzosafe-bench-"))
    url = args.database_url or f"sqlite:///{folder / 'bench.db'}"
    schema = None
    if url.startswith("postgresql"):
        schema, url = fresh_schema(url)
    t0 = time.perf_counter()
    build(url, args.patients)
    built = time.perf_counter() - t0
    print(f"database: {url.split('@')[-1]} with {args.patients} patients, built in {built:.1f} s")
    port = free_port()
    # Every session signs in as one user from one address: the sign-in rate limits are lifted
    # for the run (sign-ins are not what is measured).
    limit = str(max(1000, 10 * args.sessions))
    env = {**os.environ, "BENZOSAFE_DATABASE_URL": url, "BENZOSAFE_ENV": "development",
           "BENZOSAFE_SIGN_IN_ATTEMPTS_PER_ACCOUNT": limit,
           "BENZOSAFE_SIGN_IN_ATTEMPTS_PER_CLIENT": limit}  # fmt: skip
    log = (folder / "server.log").open("w")
    command = [str(Path(sys.executable).with_name("benzosafe")), "serve", "--port", str(port)]
    command += ["--workers", str(args.workers)]
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                httpx2.get(f"{base}/api/session", timeout=1)
                break
            except httpx2.TransportError:
                time.sleep(0.2)
        load_before = os.getloadavg()
        spy = py_spy(server.pid, args.profile, gil=True) if args.profile else None
        lat, errors, took, used = asyncio.run(
            drive(base, args.sessions, args.patients, args.seconds, args.think, server.pid)
        )
        load_after = os.getloadavg()
        if spy is not None:
            spy.send_signal(2)  # SIGINT: py-spy writes what it sampled and exits
            spy.wait(timeout=60)
    finally:
        server.terminate()
        server.wait(15)
        log.close()
        if schema is not None and args.database_url:
            drop_schema(args.database_url, schema)
    total = sum(len(v) for v in lat.values())
    print(
        f"{args.sessions} sessions, think {args.think} s, {args.workers} worker(s), "
        f"{took:.1f} s: {total} requests, {total / took:.0f} requests/s, "
        f"{sum(errors.values())} errors"
    )
    whose = {
        "server": "the benzosafe server and its workers",
        "client": "the asyncio clients, on the same cores",
        "postgres": "every PostgreSQL process on this machine, other sessions' too",
        "machine": f"every process, {os.cpu_count()} cores",
    }
    for key, seconds in used.items():
        if key == "postgres" and schema is None:
            continue
        print(
            f"{key} CPU {seconds:.1f} s ({seconds / took:.2f} cores): "
            f"{seconds / max(total, 1) * 1000:.1f} ms per request ({whose[key]})"
        )
    print(
        "load average (1, 5, 15 min) before: "
        + ", ".join(f"{x:.2f}" for x in load_before)
        + "; after: "
        + ", ".join(f"{x:.2f}" for x in load_after)
    )
    if REASONS:
        print("errors:", ", ".join(f"{why} x{n}" for why, n in sorted(REASONS.items())))
    print(f"{'page':40} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'errors':>6}")
    rows = {page: lat[page] for page in sorted(lat)}
    rows["all pages"] = [ms for page in lat for ms in lat[page]]
    for page, unsorted in rows.items():
        values = sorted(unsorted)
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        p50 = statistics.median(values)
        failed = sum(errors.values()) if page == "all pages" else errors[page]
        print(f"{page:40} {len(values):6d} {p50:8.1f} {p95:8.1f} {values[-1]:8.1f} {failed:6d}")
    if args.profile:
        print_profile(args.profile)


if __name__ == "__main__":
    main()
