"""Shared pieces of the CDS Hooks tests: a real server on loopback, and the vectors.

A module of its own (not conftest.py), so that it cannot clash with other test helpers;
test modules import the fixture they use.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from benzosafe.web.cds.app import create_cds_app
from benzosafe.web.cds.settings import CdsSettings

VECTORS = Path(__file__).resolve().parents[2] / ".." / "shared" / "vectors"
ROLLER = "http://fhir.org/guides/cdc/opioid-cds/StructureDefinition/dataDateRoller"
_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(.*)$")


class Server:
    """The service under uvicorn in a thread, on a free loopback port."""

    def __init__(self, settings: CdsSettings) -> None:
        self.app = create_cds_app(settings)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=0, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Server:
        self.thread.start()
        for _ in range(500):
            if self.server.started:
                break
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    @property
    def store(self) -> Any:
        return self.app.state.cds_store


def feedback_of(server: Server, service_id: str | None = None) -> list[dict[str, Any]]:
    """The feedback a server stored (its SQLite store may be read from any thread)."""
    stored: list[dict[str, Any]] = asyncio.run(server.store.feedback(service_id))
    return stored


def dev_server_running() -> Server:
    """A server in the explicit development mode (no JWT), with taper links."""
    return Server(CdsSettings(allow_unauthenticated=True, app_url="https://app.example.org"))


def vectors(sub: str) -> Path:
    path = VECTORS / sub
    if not path.exists():
        pytest.skip(f"third-party test vectors not found at {path} (../shared/vectors)")
    return path


def load_vector(path: Path) -> dict[str, Any]:
    """Read a CDC example. The R4 examples upstream carry one stray '}' after prefetch.item1,
    which closes the prefetch early; the items after it are put back where they belong."""
    text = path.read_text(encoding="utf-8")
    try:
        data: dict[str, Any] = json.loads(text)
        return data
    except json.JSONDecodeError:
        data, end = json.JSONDecoder().raw_decode(text)
        assert text[end:].strip() == "}", f"{path.name}: unexpected defect"
        for key in [k for k in data if re.fullmatch(r"item\d+", k)]:
            data["prefetch"][key] = data.pop(key)
        return data


def _shift(value: Any, days: int) -> Any:
    if isinstance(value, dict):
        return {k: value[k] if k == "extension" else _shift(v, days) for k, v in value.items()}
    if isinstance(value, list):
        return [_shift(v, days) for v in value]
    if isinstance(value, str):
        match = _DATE.match(value)
        if match:
            moved = date.fromordinal(date.fromisoformat(match.group(1)).toordinal() + days)
            return moved.isoformat() + match.group(2)
    return value


def roll_dates(value: Any, today: date) -> Any:
    """Apply the CDC dataDateRoller extension: move a resource's dates so that its
    dateLastUpdated becomes today (what the examples intend)."""
    if isinstance(value, list):
        return [roll_dates(v, today) for v in value]
    if not isinstance(value, dict):
        return value
    for ext in value.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == ROLLER and "resourceType" in value:
            last = next(
                e["valueDateTime"] for e in ext["extension"] if e["url"] == "dateLastUpdated"
            )
            value = _shift(value, (today - date.fromisoformat(last[:10])).days)
            break
    return {k: roll_dates(v, today) for k, v in value.items()}


# --- EHRs with keys, and the real ``benzosafe serve-cds`` in a child process ----------------


class Ehr:
    """A test EHR: an issuer with its own P-384 key, signing CDS Hooks JWTs."""

    def __init__(self, iss: str, kid: str = "k1") -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.iss = iss
        self.kid = kid
        self.key = ec.generate_private_key(ec.SECP384R1())

    def jwk(self, kid: str | None = None) -> dict[str, Any]:
        from jwt.algorithms import ECAlgorithm

        data: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(self.key.public_key()))
        return {**data, "kid": kid or self.kid, "alg": "ES384", "use": "sig"}

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk()]}

    def token(self, aud: str, *, lifetime: int = 300, **claims: Any) -> str:
        import jwt

        now = int(time.time())
        headers = {"kid": claims.pop("kid", None) or self.kid}
        body = {"iss": self.iss, "aud": aud, "iat": now, "exp": now + lifetime}
        body["jti"] = str(uuid.uuid4())
        body.update(claims)
        return jwt.encode(body, self.key, algorithm="ES384", headers=headers)

    def headers(self, aud: str, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(aud, **claims)}"}


def issuers_file(directory: Path, *ehrs: Ehr) -> Path:
    """A trusted-issuers file (TOML) naming each EHR with its JWK set in a file beside it."""
    lines = []
    for i, ehr in enumerate(ehrs):
        (directory / f"jwks-{i}.json").write_text(json.dumps(ehr.jwks()), encoding="utf-8")
        lines.append(f'[[issuer]]\niss = "{ehr.iss}"\njwks_file = "jwks-{i}.json"\n')
    path = directory / "issuers.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


class CdsProcess:
    """``benzosafe serve-cds`` as a child process on a free loopback port."""

    def __init__(self, directory: Path, *args: str, port: int | None = None) -> None:
        import os
        import socket
        import subprocess
        import sys

        if port is None:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = int(s.getsockname()[1])
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = directory / f"serve-cds-{port}.log"
        cmd = [sys.executable, "-m", "benzosafe", "serve-cds", "--port", str(port), *args]
        cmd = [a.replace("{url}", self.url) for a in cmd]
        self._out = self.log.open("w")
        self.process = subprocess.Popen(
            cmd, cwd=directory, env=os.environ.copy(), stdout=self._out, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve-cds exited: {self.log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"serve-cds did not start: {self.log.read_text()}")

    def memory_kb(self, field: str = "VmHWM") -> int:
        """A memory figure (kB) of the server process and its workers, added up."""
        total = 0
        for pid in [self.process.pid, *_children(self.process.pid)]:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(field + ":"):
                    total += int(line.split()[1])
        return total

    def stop(self) -> str:
        import subprocess

        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self._out.close()
        return self.log.read_text()

    def __enter__(self) -> CdsProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


# --- one order, as an EHR sends it ----------------------------------------------------------


def medication_request(rid: str, display: str, status: str, per_day: int, dose: dict[str, Any],
                       patient: str, **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": "order",
        "subject": {"reference": f"Patient/{patient}"},
        "medicationCodeableConcept": {"text": display},
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [{"doseQuantity": dose}],
            }
        ],
        **extra,
    }


def clonazepam_with_opioid(
    hook: str, patient: str = "shared-123", draft: str = "1"
) -> dict[str, Any]:
    """A clonazepam draft (2 mg four times a day, for panic disorder) for a patient on
    oxycodone: the concurrent-opioid card, critical, and a dose card."""
    clonazepam = medication_request(
        draft, "Clonazepam 2 MG Oral Tablet", "draft", 4,
        {"value": 2, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"},
        patient, reasonCode=[{"text": "Panic disorder"}],
    )  # fmt: skip
    oxycodone = medication_request(
        f"rx-{patient}", "Oxycodone Hydrochloride 10 MG Oral Tablet", "active", 4,
        {"value": 1, "unit": "tablet"}, patient,
    )  # fmt: skip
    bundle = {"resourceType": "Bundle", "type": "searchset"}
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/1",
            "patientId": patient,
            "draftOrders": {**bundle, "type": "collection", "entry": [{"resource": clonazepam}]},
        },
        "prefetch": {
            "patient": {"resourceType": "Patient", "id": patient, "birthDate": "1986-01-01"},
            "medications": {**bundle, "entry": [{"resource": oxycodone}]},
            "conditions": {**bundle, "entry": []},
        },
    }


def topics(cards: list[dict[str, Any]]) -> set[str]:
    return {c["source"].get("topic", {}).get("code", "not-evaluated") for c in cards}


# --- other parties' HTTP servers on loopback (a FHIR server, a key-set host) ----------------


class JsonHandler(http.server.BaseHTTPRequestHandler):
    """A handler for a test's own HTTP server that answers JSON and logs nothing."""

    def answer(self, status: int, body: Any, media: str = "application/json") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", media)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def loopback(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """An HTTP server with this handler on a free loopback port; its base URL."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
