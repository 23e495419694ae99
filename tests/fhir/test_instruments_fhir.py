"""FHIR round trip: Questionnaire from the data, QuestionnaireResponse in, Observation out."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.questionnaire import Questionnaire

from benzosafe.clinical.instruments import score
from benzosafe.errors import InvalidInput
from benzosafe.fhir.instruments import questionnaire, score_questionnaire_response
from benzosafe.knowledge import load

KB = load()
INSTRUMENTS = sorted(KB.assessment.instruments)


def respond(q: dict[str, Any], pick: int, **context: Any) -> dict[str, Any]:
    """A completed QuestionnaireResponse choosing option ``pick`` (or the last) for every item."""
    items: list[dict[str, Any]] = []
    for item in q["item"]:
        if item["type"] == "choice":
            options = item["answerOption"]
            coding = options[min(pick, len(options) - 1)]["valueCoding"]
            items.append({"linkId": item["linkId"], "answer": [{"valueCoding": coding}]})
        elif item["linkId"] in context:
            kind = "valueBoolean" if item["type"] == "boolean" else "valueInteger"
            items.append({"linkId": item["linkId"], "answer": [{kind: context[item["linkId"]]}]})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": "qr-1",
        "questionnaire": q["url"] + "|" + q["version"],
        "status": "completed",
        "subject": {"reference": "Patient/example"},
        "authored": "2026-11-25T09:30:00+00:00",
        "item": items,
    }


@pytest.mark.parametrize("instrument_id", INSTRUMENTS)
def test_questionnaire_is_valid_and_generated_from_the_data(instrument_id: str) -> None:
    q = questionnaire(instrument_id, KB)
    Questionnaire.model_validate(q)  # what we emit validates
    inst = load().assessment.instruments[instrument_id]
    choice = [i for i in q["item"] if i["type"] == "choice"]
    assert [i["linkId"] for i in choice] == [i.id for i in inst.items]
    assert q["status"] == ("draft" if inst.status == "draft" else "active")
    codes = [int(o["valueCoding"]["code"]) for o in choice[0]["answerOption"]]
    assert codes == list(inst.scale(inst.items[0]).values)


@pytest.mark.parametrize("instrument_id", INSTRUMENTS)
@pytest.mark.parametrize("pick", [0, 1, 9])
def test_round_trip_gives_the_same_score_as_the_core(instrument_id: str, pick: int) -> None:
    inst = load().assessment.instruments[instrument_id]
    context: dict[str, Any] = {}
    if "age" in inst.context:
        context["age"] = 70
    if "medical_supervision" in inst.context:
        context["medical_supervision"] = True
    q = questionnaire(instrument_id, KB)
    result, obs = score_questionnaire_response(respond(q, pick, **context), KB)
    Observation.model_validate(obs)
    values = [min(pick, len(inst.scale(i).options) - 1) for i in inst.items]
    assert result == score(instrument_id, values, KB, **context)
    assert obs["valueInteger"] == result.total
    assert obs["status"] == ("final" if inst.status == "validated" else "preliminary")
    assert obs["subject"] == {"reference": "Patient/example"}
    assert obs["derivedFrom"] == [{"reference": "QuestionnaireResponse/qr-1"}]
    assert len(obs["component"]) == len(inst.items)
    if result.band:
        assert obs["interpretation"][0]["text"] == result.band
    else:
        assert "interpretation" not in obs
        assert obs["note"][0]["text"].startswith("DRAFT")


def test_sds_cutoff_travels_with_the_observation() -> None:
    q = questionnaire("sds", KB)
    _, obs = score_questionnaire_response(respond(q, 1, age=70), KB)
    assert obs["valueInteger"] == 5
    assert any("Cut-off applied: 6 or more" in n["text"] for n in obs["note"])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"questionnaire": "urn:other:q"}, "questionnaire"),
        ({"status": "in-progress"}, "status"),
        ({"status": "nonsense"}, "status"),
        ({"item": "not a list"}, "QuestionnaireResponse"),
        ({"resourceType": "Patient"}, "QuestionnaireResponse"),
    ],
)
def test_bad_responses_are_invalid_input(change: dict[str, Any], field: str) -> None:
    qr = {**respond(questionnaire("sds", KB), 0), **change}
    with pytest.raises(InvalidInput) as exc:
        score_questionnaire_response(qr, KB)
    assert exc.value.field == field


def test_out_of_range_answer_in_a_response_names_the_item() -> None:
    qr = respond(questionnaire("sds", KB), 0)
    qr["item"][0]["answer"] = [{"valueCoding": {"code": "7"}}]
    with pytest.raises(InvalidInput) as exc:
        score_questionnaire_response(qr, KB)
    assert exc.value.field == "answers.sds-1"
    assert exc.value.allowed == ("0", "1", "2", "3")


def test_dsm5_response_without_the_supervision_answer_is_refused() -> None:
    qr = respond(questionnaire("dsm5", KB), 1)
    with pytest.raises(InvalidInput) as exc:
        score_questionnaire_response(qr, KB)
    assert exc.value.field == "medical_supervision"


def test_items_not_counted_under_supervision_are_named_in_the_observation() -> None:
    _, obs = score_questionnaire_response(
        respond(questionnaire("dsm5", KB), 1, medical_supervision=True), KB
    )
    assert obs["valueInteger"] == 9
    assert any("Not counted in the total: dsm5-10, dsm5-11" in n["text"] for n in obs["note"])
