"""Shared pieces of the CDS Hooks tests: a real server on loopback, and the vectors.

A module of its own (not conftest.py), so that it cannot clash with other test helpers;
test modules import the fixture they use.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
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
