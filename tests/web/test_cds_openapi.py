"""schemathesis against the CDS Hooks service's own OpenAPI: no input gives a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from cds_support import Server
from hypothesis import HealthCheck, settings

from benzosafe.web.cds.app import create_cds_app
from benzosafe.web.cds.settings import CdsSettings

SCHEMA = schemathesis.openapi.from_dict(
    create_cds_app(CdsSettings(allow_unauthenticated=True)).openapi()
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with Server(CdsSettings(allow_unauthenticated=True)) as server:
        yield server.url


@SCHEMA.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: schemathesis.Case[Any], base_url: str) -> None:
    response = case.call(base_url=base_url, timeout=10)
    assert response.status_code < 500, response.text
