"""JWK sets fetched from a jku host without stalling the service, and cached (issue #17,
finding 5): over HTTP against the real server, with a real key-set host on loopback that can
be slow, fail, or rotate its keys, and that counts how often it is asked."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
import pytest
from cds_support import Ehr, JsonHandler, Server, loopback

from benzosafe.web.cds.keys import Issuer, TrustedIssuers
from benzosafe.web.cds.settings import CdsSettings

PUBLIC = "https://cds.example.org"
DISCOVERY = "/cds-services"
STATIC = Ehr("https://static-ehr.example.org/")
ROTATING = Ehr("https://jku-ehr.example.org/", kid="k1")


class _KeyHost(JsonHandler):
    delay = 0.0
    status = 200
    keys: ClassVar[dict[str, Any]] = {}
    asked = 0
    arrived = threading.Event()

    def do_GET(self) -> None:
        _KeyHost.asked += 1
        _KeyHost.arrived.set()
        time.sleep(_KeyHost.delay)
        self.answer(_KeyHost.status, _KeyHost.keys)


@pytest.fixture(scope="module")
def jku() -> Iterator[str]:
    with loopback(_KeyHost) as url:
        yield f"{url}/jwks.json"


@pytest.fixture(autouse=True)
def _host_reset() -> None:
    _KeyHost.delay, _KeyHost.status, _KeyHost.asked = 0.0, 200, 0
    _KeyHost.keys = ROTATING.jwks()
    _KeyHost.arrived.clear()


def _server(jku: str, **cache: float) -> Server:
    trusted = TrustedIssuers(
        {
            STATIC.iss: Issuer(STATIC.iss, STATIC.jwks()),
            ROTATING.iss: Issuer(ROTATING.iss, None, (jku,)),
        },
        **cache,  # type: ignore[arg-type]
    )
    return Server(CdsSettings(public_url=PUBLIC, trusted=trusted))


def _discover(server: Server, ehr: Ehr, kid: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {ehr.token(PUBLIC + DISCOVERY, kid=kid)}"}
    return httpx.get(server.url + DISCOVERY, headers=headers, timeout=30)


def test_a_slow_jku_host_does_not_stall_other_calls(jku: str) -> None:
    _KeyHost.delay = 1.5
    with _server(jku, fetch_timeout=10.0) as server:
        slow: list[httpx.Response] = []
        waiting = threading.Thread(target=lambda: slow.append(_discover(server, ROTATING)))
        waiting.start()
        assert _KeyHost.arrived.wait(10)
        # While the key set is still on its way, another EHR's call is answered.
        assert _discover(server, STATIC).status_code == 200
        assert waiting.is_alive()
        waiting.join(30)
    assert slow[0].status_code == 200


def test_a_jku_host_slower_than_the_timeout_is_a_401(jku: str) -> None:
    _KeyHost.delay = 1.0
    with _server(jku, fetch_timeout=0.2) as server:
        response = _discover(server, ROTATING)
    assert response.status_code == 401
    assert "cannot fetch the JWK set" in response.json()["issue"][0]["diagnostics"]


def test_a_failed_fetch_is_cached_briefly(jku: str) -> None:
    _KeyHost.status = 500
    with _server(jku, failure_ttl=60.0) as server:
        answers = [_discover(server, ROTATING).status_code for _ in range(5)]
        assert answers == [401] * 5
        assert _KeyHost.asked == 1
        _KeyHost.status = 200  # the host is back, but the failure is still remembered
        assert _discover(server, ROTATING).status_code == 401
        assert _KeyHost.asked == 1
    with _server(jku, failure_ttl=0.2) as server:
        _KeyHost.status = 500
        assert _discover(server, ROTATING).status_code == 401
        _KeyHost.status = 200
        time.sleep(0.3)
        assert _discover(server, ROTATING).status_code == 200
        assert _KeyHost.asked == 3


def test_a_flood_of_unknown_kids_asks_the_host_at_most_once_per_interval(jku: str) -> None:
    with _server(jku, refetch_interval=60.0) as server:
        assert _discover(server, ROTATING).status_code == 200
        refused = [_discover(server, ROTATING, kid=str(uuid.uuid4())) for _ in range(25)]
        assert {r.status_code for r in refused} == {401}
        assert _KeyHost.asked == 1
        # the keys themselves are cached: known kids are not fetched again either
        assert _discover(server, ROTATING).status_code == 200
        assert _KeyHost.asked == 1


def test_key_rotation_is_picked_up_after_the_refetch_interval(jku: str) -> None:
    rotated = Ehr(ROTATING.iss, kid="k2")
    with _server(jku, refetch_interval=0.3) as server:
        assert _discover(server, ROTATING).status_code == 200
        _KeyHost.keys = rotated.jwks()
        assert _discover(server, rotated).status_code == 401  # within the interval
        assert _KeyHost.asked == 1
        time.sleep(0.4)
        assert _discover(server, rotated).status_code == 200
        assert _KeyHost.asked == 2
        # many unknown kids at once after the interval (while the host is slow): one fetch
        time.sleep(0.4)
        _KeyHost.delay = 1.0
        threads = [
            threading.Thread(target=_discover, args=(server, rotated, f"x{i}")) for i in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert _KeyHost.asked == 3
