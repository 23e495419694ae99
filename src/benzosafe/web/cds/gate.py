"""The gate in front of every CDS Hooks endpoint: who is calling, and how much they may send.

An ASGI middleware, so that it runs before anything reads the request body: the EHR's JWT is
verified from the headers alone (discovery, the services and feedback alike), then the body is
read up to the configured limit; one declared larger (``Content-Length``) is answered 413
without reading any of it, one sent in chunks is cut off at the limit, and the connection is
closed. A refused call gets an OperationOutcome at once (401 with ``WWW-Authenticate``, or
413). A hook call (``POST /cds-services/{id}``, the hot path) is answered here by the
service; discovery and feedback reach the FastAPI endpoints with the issuer and body in the
ASGI scope under ``benzosafe.cds``. Paths outside ``/cds-services`` (the OpenAPI
description) pass through.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

from benzosafe.errors import BenzosafeError, InvalidInput, PayloadTooLarge
from benzosafe.web.logs import scrub_exception

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
SCOPE_KEY = "benzosafe.cds"
_JSON, _FHIR = b"application/json", b"application/fhir+json"

log = logging.getLogger("benzosafe.cds")


class GatedService(Protocol):
    max_body_bytes: int

    async def authenticate(self, authorization: str | None, path: str) -> str: ...

    async def hook_response(
        self, service_id: str, raw: bytes, issuer: str
    ) -> tuple[int, bytes]: ...


def outcome_body(status: int, code: str, message: str, expression: str | None = None) -> bytes:
    """An OperationOutcome with one issue, as JSON bytes."""
    issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": message}
    issue["details"] = {"text": message}
    if expression:
        issue["expression"] = [expression]
    return orjson.dumps({"resourceType": "OperationOutcome", "issue": [issue]})


async def send_outcome(send: Send, exc: BenzosafeError, *, close: bool) -> None:
    status = 400 if exc.status == 422 else exc.status
    body = outcome_body(status, exc.issue_type, str(exc), exc.field)
    await _send(send, status, body, _FHIR, close=close)


async def _send(send: Send, status: int, body: bytes, media: bytes, *, close: bool) -> None:
    headers = [(b"content-type", media), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    if close:
        # The rest of the body is not wanted: end the connection instead of draining it.
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class CdsGate:
    """Authenticate, then read a bounded body, before the CDS Hooks endpoints see a request."""

    def __init__(self, app: Any, service: GatedService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        route = path[len(root) :] if root and path.startswith(root) else path
        if not (route == "/cds-services" or route.startswith("/cds-services/")):
            await self.app(scope, receive, send)
            return
        authorization = None
        declared: int | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
        try:
            issuer = await self.service.authenticate(authorization, path)
        except BenzosafeError as exc:
            await send_outcome(send, exc, close=False)
            return
        limit = self.service.max_body_bytes
        try:
            if declared is not None and declared < 0:
                raise InvalidInput("Content-Length", "is not a number of bytes")
            if declared is not None and declared > limit:
                raise PayloadTooLarge(f"the body is {declared} bytes; at most {limit} are accepted")
            body = await _read(receive, limit)
        except BenzosafeError as exc:
            await send_outcome(send, exc, close=True)
            return
        service_id = route[len("/cds-services/") :]
        if scope["method"] == "POST" and service_id and "/" not in service_id:
            await self._hook(send, service_id, body, issuer)
            return
        scope[SCOPE_KEY] = {"issuer": issuer, "body": body}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _hook(self, send: Send, service_id: str, body: bytes, issuer: str) -> None:
        """A hook call, answered here: the hot path needs no routing or request objects."""
        try:
            status, data = await self.service.hook_response(service_id, body, issuer)
        except BenzosafeError as exc:
            await send_outcome(send, exc, close=False)
            return
        except Exception as exc:
            # Its type and frames, not its text: a hook's context and prefetch carry patients.
            log.error("unexpected error in a CDS Hooks call", extra=scrub_exception(exc))
            body = outcome_body(500, "exception", "internal error; the request changed nothing")
            await _send(send, 500, body, _FHIR, close=False)
            return
        await _send(send, status, data, _JSON if status == 200 else _FHIR, close=False)


async def _read(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidInput("body", "the client went away before sending all of it")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is over {limit} bytes; at most {limit} are accepted")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
