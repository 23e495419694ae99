"""Reading CDS Hooks requests: any JSON gives a request or an InvalidInput, never a crash."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from benzosafe.errors import InvalidInput
from benzosafe.fhir.request import parse_hook_request, strip_empty

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
CONTEXT_KEYS = st.sampled_from(["patientId", "userId", "user", "draftOrders", "selections"])


@st.composite
def hook_requests(draw: st.DrawFn) -> Any:
    context = draw(st.dictionaries(CONTEXT_KEYS, JSON | st.text(max_size=12), max_size=5))
    body: dict[str, Any] = {
        "hook": draw(st.sampled_from(["order-select", "patient-view", "x"])),
        "hookInstance": draw(st.text(max_size=6)),
        "context": context,
        "prefetch": draw(st.dictionaries(st.text(max_size=5), JSON, max_size=3)),
    }
    if draw(st.booleans()):
        body["fhirAuthorization"] = draw(JSON)
    return draw(st.sampled_from([body, draw(JSON)]))


@given(hook_requests())
@settings(max_examples=300, deadline=None)
def test_any_json_is_a_request_or_a_clear_error(body: Any) -> None:
    try:
        request = parse_hook_request(body, "order-select")
    except InvalidInput as exc:
        assert exc.field
        return
    assert request.patient_id and "/" not in request.patient_id
    assert all(isinstance(r, dict) and "resourceType" in r for r in request.draft_orders)


@given(JSON)
def test_strip_empty_is_idempotent_and_leaves_nothing_empty(value: Any) -> None:
    once = strip_empty(value)
    assert strip_empty(once) == once

    def empty_inside(v: Any) -> bool:
        if isinstance(v, dict):
            return any(x in (None, "", [], {}) or empty_inside(x) for x in v.values())
        if isinstance(v, list):
            return any(x in (None, "", [], {}) or empty_inside(x) for x in v)
        return False

    assert not empty_inside(once)
