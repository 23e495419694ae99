"""Whatever a browser posts, the form readers give the API's shape or a clear InvalidInput
naming the field; nothing else escapes (property tests)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from benzosafe.errors import InvalidInput
from benzosafe.web.clinic import actions

FIELDS = st.sampled_from(
    [*actions.TAPER_TEXT_FIELDS, *actions.ADJUST_FIELDS, *actions.INTAKE_BOOLEANS,
     *actions.INTAKE_INTEGERS, "label_panic", "other_substances", "drug", "x"]
)  # fmt: skip
VALUES = st.one_of(st.text(max_size=12), st.lists(st.text(max_size=8), max_size=3))
FORMS = st.dictionaries(FIELDS, VALUES, max_size=8)


def _call(reader: Any, form: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return dict(reader(form))
    except InvalidInput as exc:
        assert exc.field  # names the field
        return None


@given(FORMS)
def test_form_readers_give_the_json_shape_or_name_the_field(form: dict[str, Any]) -> None:
    intake = _call(actions.intake_from_form, form)
    if intake is not None:
        assert all(isinstance(intake[k], bool) for k in actions.INTAKE_BOOLEANS if k in intake)
        assert all(isinstance(intake[k], int) for k in actions.INTAKE_INTEGERS if k in intake)
    request = _call(actions.taper_request_from, form)
    if request is not None:
        assert set(request) <= {*actions.TAPER_TEXT_FIELDS, "label_panic"}
        assert all(v.strip() == v and v for k, v in request.items() if k != "label_panic")
    adjustment = _call(actions.adjustment_from, form)
    if adjustment is not None:
        assert set(adjustment) <= set(actions.ADJUST_FIELDS)
