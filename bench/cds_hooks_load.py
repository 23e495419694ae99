"""Benchmark: the CDS Hooks service under order-sign load, on loopback only.

Starts ``benzosafe serve-cds`` on 127.0.0.1 with a trusted issuer whose keys this script
makes, then drives order-sign calls from a separate process: each call is a distinct
synthetic patient (a clonazepam draft, a current oxycodone order, a Condition bundle) with
its own freshly signed JWT (unique jti), so nothing is served from a cache. Two phases:

1. a fixed rate (default 200 requests/s, open loop: latency counts from the planned send
   time, so a slow server cannot hide its queue), and
2. saturation: a number of connections sending back to back.

Prints throughput, p50/p95/p99 latency, the server's CPU time per response (all its worker
processes) and the machine's load average. Asserts nothing. Targets (issues #6 and #17) on a
2-core machine: p95 at or under 20 ms at 200 requests/s; at least 1,000 requests/s at
saturation, with ES384 JWTs.

    .venv/bin/python bench/cds_hooks_load.py [--alg ES384|RS384|none] [--workers 1]
        [--seconds 10] [--rate 200] [--connections 32] [--state URL] [--profile FILE]

``--alg none`` runs the server in its development mode without JWT (for comparison only).
``--state`` names the server's state store (default: an SQLite file in a temporary folder;
``redis://...`` or ``postgresql://...`` for the shared stores). ``--profile FILE`` samples
the server and its workers with py-spy during the saturation phase, writes the raw stacks to
FILE and prints where the time goes (own time and time inside, by function).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from profiling import print_profile, py_spy

HOST = "127.0.0.1"  # loopback only
ISS = "https://ehr.bench.invalid/"
SERVICE = "benzosafe-order-sign"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def _wait_for(port: int) -> None:
    """Until a server listens on the port (15 s at most)."""
    for _ in range(300):
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)


def _keys(alg: str) -> tuple[bytes, dict[str, Any]]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from jwt.algorithms import ECAlgorithm, RSAAlgorithm

    if alg == "RS384":
        key: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    else:
        key = ec.generate_private_key(ec.SECP384R1())
        jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, {"keys": [{**jwk, "kid": "bench-1", "alg": alg, "use": "sig"}]}


def _sign(args: tuple[bytes, str, str, int]) -> list[str]:
    import jwt
    from cryptography.hazmat.primitives import serialization

    pem, alg, aud, count = args
    key = serialization.load_pem_private_key(pem, password=None)
    now = int(time.time())
    return [
        jwt.encode(
            # five minutes: the longest lifetime the service accepts by default
            {"iss": ISS, "aud": aud, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())},
            key,  # type: ignore[arg-type]
            algorithm=alg,
            headers={"kid": "bench-1"},
        )
        for _ in range(count)
    ]


def _medication_request(
    rid: str, pid: str, status: str, code: str, display: str, per_day: int, tablets: int
) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": f"Patient/{pid}"},
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": code,
                    "display": display,
                }
            ]
        },
        "authoredOn": "2026-11-25",
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": {"value": tablets, "unit": "tablet"}}],
            }
        ],
    }


def _body(i: int) -> bytes:
    """One order-sign call for a distinct synthetic patient."""
    pid = f"bench-{i}"
    draft = _medication_request(
        f"draft-{i}", pid, "draft", "197528", "Clonazepam 1 MG Oral Tablet", 2 + i % 3, 1
    )
    draft["reasonCode"] = [{"text": "Panic disorder"}]
    draft["dispenseRequest"] = {
        "numberOfRepeatsAllowed": i % 3,
        "expectedSupplyDuration": {"value": 30, "unit": "days", "code": "d"},
    }
    opioid = _medication_request(
        f"rx-{i}",
        pid,
        "active",
        "1049621",
        "Oxycodone Hydrochloride 5 MG Oral Tablet",
        4,
        1 + i % 2,
    )
    body = {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/bench",
            "patientId": pid,
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": draft}],
            },
        },
        "prefetch": {
            "patient": {
                "resourceType": "Patient",
                "id": pid,
                "birthDate": f"{1940 + i % 60}-03-01",
            },
            "medications": {
                "resourceType": "Bundle",
                "type": "searchset",
                "entry": [{"resource": opioid}],
            },
            "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": []},
        },
    }
    return json.dumps(body).encode()


def _request(port: int, body: bytes, token: str | None) -> bytes:
    head = (
        f"POST /cds-services/{SERVICE} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
    )
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    return head.encode() + b"\r\n" + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> int:
    writer.write(data)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def _drive(
    port: int, requests: list[bytes], rate: float | None, connections: int, seconds: float
) -> dict[str, Any]:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
    client_cpu = time.process_time()
    latencies: list[float] = []
    errors = 0
    done = 0
    start = time.perf_counter()
    deadline = start + seconds

    async def worker() -> None:
        nonlocal errors, done
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            while True:
                if rate is None:
                    # saturation: each connection sends its next request as soon as the
                    # last is answered, until the time is up (no polling loop to steal CPU)
                    if not pending or time.perf_counter() >= deadline:
                        return
                    planned, data = time.perf_counter(), pending.pop()
                else:
                    planned, data = await queue.get()
                    if planned < 0:
                        return
                status = await _exchange(reader, writer, data)
                latencies.append(time.perf_counter() - planned)
                done += 1
                if status != 200:
                    errors += 1
        finally:
            writer.close()

    pending = list(reversed(requests)) if rate is None else []
    workers = [asyncio.create_task(worker()) for _ in range(connections)]
    sent = 0
    if rate is not None:
        while sent < len(requests):
            planned = start + sent / rate
            if planned >= deadline:
                break
            delay = planned - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait((planned, requests[sent]))
            sent += 1
        while not queue.empty():
            await asyncio.sleep(0.001)
        for _ in workers:
            queue.put_nowait((-1.0, b""))
    await asyncio.gather(*workers)
    sent = sent if rate is not None else len(requests) - len(pending)
    elapsed = time.perf_counter() - start
    return {
        "sent": sent,
        "done": done,
        "errors": errors,
        "elapsed": elapsed,
        "latencies": latencies,
        "client_cpu": time.process_time() - client_cpu,
    }


def _client(
    port: int, requests: list[bytes], rate: float | None, connections: int, seconds: float, out: Any
) -> None:
    try:
        import uvloop

        result = uvloop.run(_drive(port, requests, rate, connections, seconds))
    except ImportError:
        result = asyncio.run(_drive(port, requests, rate, connections, seconds))
    out.put(result)


def _phase(
    port: int, requests: list[bytes], rate: float | None, connections: int, seconds: float
) -> dict[str, Any]:
    """Run the driver in a separate process and collect its figures."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_client, args=(port, requests, rate, connections, seconds, out))
    proc.start()
    result: dict[str, Any] = out.get(timeout=seconds + 120)
    proc.join(timeout=30)
    return result


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its children (uvicorn workers), Linux only."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == pid or int(fields[1]) == pid:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def _measured(name: str, server_pid: int, run: Any, profile: str | None = None) -> dict[str, Any]:
    """Run a phase; report it with the server's CPU per response and the machine's load."""
    load, cpu = _load(), _cpu_seconds(server_pid)
    spy = py_spy(server_pid, profile) if profile else None
    result: dict[str, Any] = run()
    used = _cpu_seconds(server_pid) - cpu
    _report(name, result)
    if result["done"]:
        per = used / result["done"] * 1000
        client = result["client_cpu"] / result["done"] * 1000
        print(
            f"    server CPU {per:.2f} ms per response (= {1000 / per:.0f} responses/s per "
            f"core); load average before the phase {load}, after {_load()} "
            "(other processes share the 2 cores)"
        )
        cores = os.cpu_count() or 1
        print(
            f"    client CPU {client:.2f} ms per request; server + client on {cores} idle "
            f"cores would allow at most {cores * 1000 / (per + client):.0f} requests/s"
        )
    if spy is not None and profile:
        spy.send_signal(2)  # SIGINT: py-spy writes what it sampled and exits
        spy.wait(timeout=60)
        print_profile(profile)
    return result


async def bare_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The baseline: uvicorn alone, reading the same bodies and answering a fixed JSON."""
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"cards": []}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"13")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _baseline(workers: int, requests: list[bytes], args: Any, service_rate: float) -> None:
    """Saturate uvicorn alone (same workers, client and bodies) in the same run: the ceiling
    of a Python HTTP server on this machine at this moment, to read the service's figure by."""
    port = _free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(__file__).parent)]
    cmd += ["cds_hooks_load:bare_app", "--host", HOST, "--port", str(port)]
    cmd += ["--workers", str(workers), "--log-level", "warning", "--no-access-log"]
    cmd += ["--lifespan", "off"]
    bare = subprocess.Popen(cmd)
    try:
        _wait_for(port)
        _phase(port, requests[:200], None, 4, 1.0)
        result = _measured(
            "baseline, uvicorn alone (same client and bodies), saturation",
            bare.pid,
            lambda: _phase(port, requests * 10, None, args.connections, args.seconds),
        )
        rate = result["done"] / result["elapsed"]
        print(
            f"the service's saturation throughput is {service_rate / rate:.2f} of uvicorn's alone"
        )
    finally:
        bare.terminate()
        bare.wait(timeout=20)


def _report(name: str, result: dict[str, Any]) -> None:
    lat = sorted(result["latencies"])
    if not lat:
        print(f"{name}: no responses")
        return
    q = statistics.quantiles(lat, n=100, method="inclusive")
    print(
        f"{name}: {result['done']} responses in {result['elapsed']:.1f} s = "
        f"{result['done'] / result['elapsed']:.0f} requests/s; errors {result['errors']}; "
        f"latency ms p50 {q[49] * 1000:.1f}  p95 {q[94] * 1000:.1f}  p99 {q[98] * 1000:.1f}  "
        f"max {lat[-1] * 1000:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alg", choices=["ES384", "RS384", "none"], default="ES384")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--saturation-requests", type=int, default=25000)
    parser.add_argument("--state", default=None, help="the server's state store (URL or file)")
    parser.add_argument("--profile", default=None, help="py-spy the saturation phase to FILE")
    parser.add_argument("--no-baseline", action="store_true", help="skip uvicorn alone")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()}")

    port = _free_port()
    base = f"http://{HOST}:{port}"
    aud = f"{base}/cds-services/{SERVICE}"
    fixed_n = int(args.rate * args.seconds)
    total = fixed_n + args.saturation_requests + 1
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "benzosafe", "serve-cds", "--host", HOST, "--port", str(port)]
        cmd += ["--public-url", base, "--state", args.state or str(Path(tmp) / "state.sqlite3")]
        cmd += ["--workers", str(args.workers)]
        tokens: list[str | None]
        if args.alg == "none":
            cmd.append("--dev-no-jwt")
            tokens = [None] * total
        else:
            pem, jwks = _keys(args.alg)
            (Path(tmp) / "jwks.json").write_text(json.dumps(jwks))
            (Path(tmp) / "issuers.toml").write_text(
                f'[[issuer]]\niss = "{ISS}"\njwks_file = "jwks.json"\n'
            )
            cmd += ["--issuers", str(Path(tmp) / "issuers.toml")]
            t0 = time.perf_counter()
            chunks = [(pem, args.alg, aud, total // 2 + 1)] * 2
            with ProcessPoolExecutor(2) as pool:
                tokens = [t for chunk in pool.map(_sign, chunks) for t in chunk]
            print(f"pre-signed {len(tokens)} {args.alg} tokens in {time.perf_counter() - t0:.1f} s")
        print("building request bodies ...")
        requests = [_request(port, _body(i), tokens[i]) for i in range(total)]
        server = subprocess.Popen(cmd, stderr=subprocess.PIPE)
        try:
            _wait_for(port)
            # warm up (first imports, knowledge load) with a few calls
            _phase(port, requests[-200:], None, 4, 2.0)
            print(
                f"server: benzosafe serve-cds, {args.workers} worker(s), JWT {args.alg}; "
                f"client: separate process, {args.connections} keep-alive connections"
            )
            fixed = requests[:fixed_n]
            rest = requests[fixed_n:-200]
            _measured(
                f"fixed rate {args.rate:.0f}/s",
                server.pid,
                lambda: _phase(port, fixed, args.rate, args.connections, args.seconds),
            )
            saturated = _measured(
                "saturation",
                server.pid,
                lambda: _phase(port, rest, None, args.connections, args.seconds),
                args.profile,
            )
            with urllib.request.urlopen(f"{base}/openapi.json", timeout=5) as r:
                r.read()
        finally:
            server.terminate()
            server.wait(timeout=20)
        if not args.no_baseline:
            _baseline(args.workers, rest, args, saturated["done"] / saturated["elapsed"])
        print(f"machine load average at the end {os.getloadavg()}")


if __name__ == "__main__":
    main()
