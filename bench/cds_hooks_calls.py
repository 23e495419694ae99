"""Benchmark: the CPU time of CDS Hooks calls inside one process, through the ASGI app.

Builds the CDS Hooks app (a trusted issuer with an ES384 key, state in memory), signs one
token per call beforehand, then sends N order-sign calls (the synthetic patients of
``cds_hooks_load.py``) straight to the ASGI app, without a network, and prints the CPU time
per call and the machine's load. ``--profile`` runs the calls under cProfile with CPU time as
its clock and prints where it goes. Run it under two versions of the code (two PYTHONPATHs)
to compare them as whole processes. Asserts nothing.

    .venv/bin/python bench/cds_hooks_calls.py [--calls 3000] [--profile] [--state URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cds_hooks_load import ISS, SERVICE, _body, _keys, _sign

PUBLIC = "https://cds.bench.invalid"


def _app(state: str | None) -> Any:
    from benzosafe.web.cds.app import create_cds_app
    from benzosafe.web.cds.auth import Issuer, TrustedIssuers
    from benzosafe.web.cds.settings import CdsSettings

    pem, jwks = _keys("ES384")
    trusted = TrustedIssuers({ISS: Issuer(ISS, jwks, ())})
    settings = CdsSettings(public_url=PUBLIC, trusted=trusted)
    if state:
        settings.state = state
    return create_cds_app(settings), pem


async def _call(app: Any, body: bytes, token: str) -> int:
    path = f"/cds-services/{SERVICE}"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"cds.bench.invalid"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _run(app: Any, bodies: list[bytes], tokens: list[str]) -> list[int]:
    return [await _call(app, b, t) for b, t in zip(bodies, tokens, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--state", default=None, help="state store (default: SQLite in memory)")
    args = parser.parse_args()
    app, pem = _app(args.state)
    aud = f"{PUBLIC}/cds-services/{SERVICE}"
    tokens = _sign((pem, "ES384", aud, args.calls + 50))
    bodies = [_body(i) for i in range(args.calls + 50)]
    asyncio.run(_run(app, bodies[:50], tokens[:50]))  # warm up: first imports and caches
    bodies, tokens = bodies[50:], tokens[50:]
    start = time.process_time()
    if args.profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile(time.process_time)
        statuses = profiler.runcall(asyncio.run, _run(app, bodies, tokens))
    else:
        statuses = asyncio.run(_run(app, bodies, tokens))
    cpu = time.process_time() - start
    bad = sum(1 for s in statuses if s != 200)
    print(
        f"{args.calls} order-sign calls: {cpu / args.calls * 1000:.3f} ms CPU per call"
        f"{' (under cProfile)' if args.profile else ''}; not 200: {bad}; "
        f"load average {os.getloadavg()}"
    )
    print(json.dumps({"cpu_ms_per_call": round(cpu / args.calls * 1000, 4), "not_200": bad}))
    if args.profile:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumtime").print_stats(40)


if __name__ == "__main__":
    main()
