"""Instrument scoring: band boundaries, cut-offs, DSM-5 supervision, draft instruments, errors."""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benzosafe.clinical.instruments import score
from benzosafe.errors import InvalidInput
from benzosafe.knowledge import load
from benzosafe.knowledge.assessment import load_assessment_from

DATA = Path(str(files("benzosafe.knowledge") / "data"))
KB = load()


def answers_for(instrument_id: str, total: int) -> list[int]:
    """Answers in item order that add up to ``total`` (filling items from the first)."""
    inst = load().assessment.instruments[instrument_id]
    out = []
    for item in inst.items:
        top = max(inst.scale(item).values)
        out.append(min(top, total))
        total -= out[-1]
    assert total == 0
    return out


# SDS: adults positive at 7 or more; 65 and over at 6 or more [S3] [S4].
@pytest.mark.parametrize(
    ("total", "age", "band", "threshold"),
    [
        (0, 40, "below-cutoff", "7 or more"),
        (6, 40, "below-cutoff", "7 or more"),
        (7, 40, "likely-dependence", "7 or more"),
        (15, 40, "likely-dependence", "7 or more"),
        (6, 64, "below-cutoff", "7 or more"),
        (0, 65, "below-cutoff", "6 or more"),
        (5, 65, "below-cutoff", "6 or more"),
        (6, 65, "likely-dependence", "6 or more"),
        (15, 90, "likely-dependence", "6 or more"),
        (6, None, "below-cutoff", "7 or more"),
        (7, None, "likely-dependence", "7 or more"),
    ],
)
def test_sds_bands_and_the_cutoff_it_applied(
    total: int, age: int | None, band: str, threshold: str
) -> None:
    result = score("sds", answers_for("sds", total), KB, age=age)
    assert (result.total, result.band) == (total, band)
    assert result.cutoff is not None and result.cutoff.startswith(threshold)
    if age is None:
        assert "age not given" in result.cutoff
    refs = {c.ref for c in result.sources}
    assert {"S3", "S4"} <= refs


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, "not-met"), (1, "not-met"), (2, "mild"), (3, "mild"), (4, "moderate"),
     (5, "moderate"), (6, "severe"), (11, "severe")],
)  # fmt: skip
def test_dsm5_bands_without_supervision(total: int, band: str) -> None:
    result = score("dsm5", answers_for("dsm5", total), KB, medical_supervision=False)
    assert (result.total, result.band, result.status) == (total, band, "validated")


def test_dsm5_tolerance_and_withdrawal_not_counted_under_supervision() -> None:
    only_physical = [0] * 9 + [1, 1]
    unsupervised = score("dsm5", only_physical, KB, medical_supervision=False)
    supervised = score("dsm5", only_physical, KB, medical_supervision=True)
    assert (unsupervised.total, unsupervised.band) == (2, "mild")
    assert (supervised.total, supervised.band) == (0, "not-met")
    assert [i.counted for i in supervised.items][-2:] == [False, False]
    assert "physical dependence alone is not a use disorder" in supervised.interpretation.lower()
    assert score("dsm5", [1] * 11, KB, medical_supervision=True).total == 9


def test_dsm5_needs_the_supervision_answer() -> None:
    with pytest.raises(InvalidInput) as exc:
        score("dsm5", [0] * 11, KB)
    assert exc.value.field == "medical_supervision"


@pytest.mark.parametrize(("instrument_id", "top"), [("ciwa-b", 80), ("bwsq", 40)])
def test_draft_instruments_show_no_band_and_say_why(instrument_id: str, top: int) -> None:
    for total in (0, 1, top // 2, top):
        result = score(instrument_id, answers_for(instrument_id, total), KB)
        assert result.total == total and result.max_total == top
        assert result.band is None and result.status == "draft"
        assert result.interpretation.startswith("DRAFT")
        assert result.draft_reason and "not" in result.draft_reason
        assert result.to_dict()["draft_reason"] == result.draft_reason


def test_answers_by_item_id() -> None:
    result = score("sds", {"sds-1": 3, "sds-2": 3, "sds-3": 0, "sds-4": 0, "sds-5": 1}, KB, age=30)
    assert result.total == 7 and result.items[4].value == 1


@pytest.mark.parametrize(
    ("answers", "field", "allowed"),
    [
        ([0, 1, 2, 3], "answers.sds-5", ("0", "1", "2", "3")),
        ([0, 1, 2, 3, 4], "answers.sds-5", ("0", "1", "2", "3")),
        ([0, -1, 0, 0, 0], "answers.sds-2", ("0", "1", "2", "3")),
        ([0, True, 0, 0, 0], "answers.sds-2", ("0", "1", "2", "3")),
        ([0, "1", 0, 0, 0], "answers.sds-2", ("0", "1", "2", "3")),
        ([0, 0, 0, 0, 0, 0], "answers", ()),
        ({"sds-9": 1}, "answers.sds-9", ("sds-1", "sds-2", "sds-3", "sds-4", "sds-5")),
        ({"sds-1": 1}, "answers.sds-2", ("0", "1", "2", "3")),
    ],
)
def test_bad_answers_name_the_item_and_the_allowed_values(
    answers: object, field: str, allowed: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidInput) as exc:
        score("sds", answers, KB)  # type: ignore[arg-type]
    assert exc.value.field == field
    assert exc.value.allowed == allowed


def test_unknown_instrument_and_unused_context_are_errors() -> None:
    with pytest.raises(InvalidInput, match="ciwa-ar") as exc:
        score("ciwa-ar", [0], KB)
    assert "sds" in exc.value.allowed
    with pytest.raises(InvalidInput, match="not used by"):
        score("ciwa-b", [0] * 20, KB, age=40)
    with pytest.raises(InvalidInput, match="age"):
        score("sds", [0] * 5, KB, age=-3)


def test_partial_scores_only_where_the_instrument_allows_them(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="missing"):
        score("sds", [1, 1], KB)
    data = tmp_path / "data"
    shutil.copytree(DATA, data)
    path = data / "assessment" / "instruments.toml"
    path.write_text(
        path.read_text().replace(
            'status = "validated"\n', 'status = "validated"\nallows_partial = true\n', 1
        )
    )
    partial_data = load_assessment_from(data, KB)
    result = score("sds", [1, 1], KB.model_copy(update={"assessment": partial_data}))
    assert result.partial and result.band is None and result.total == 2
    assert result.missing == ("sds-3", "sds-4", "sds-5")
    assert result.interpretation.startswith("PARTIAL")


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_totals_stay_in_range_and_every_total_has_one_band(data: st.DataObject) -> None:
    assessment = load().assessment
    instrument_id = data.draw(st.sampled_from(sorted(assessment.instruments)))
    inst = assessment.instruments[instrument_id]
    answers = [data.draw(st.sampled_from(inst.scale(i).values)) for i in inst.items]
    context: dict[str, object] = {}
    if "age" in inst.context:
        context["age"] = data.draw(st.none() | st.integers(0, 120))
    if "medical_supervision" in inst.context:
        context["medical_supervision"] = data.draw(st.booleans())
    result = score(instrument_id, answers, KB, **context)
    assert 0 <= result.total <= inst.max_total
    assert result.total == sum(v for v, i in zip(answers, result.items, strict=True) if i.counted)
    assert (result.band is None) == (inst.status == "draft")
    assert result.sources
