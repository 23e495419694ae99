"""The OpenAPI documents describe the answers: every JSON route of the clinician app and of
the CDS Hooks service names a 2xx schema and its error shape, and what the routes really
answer validates against the models they declare."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from support import Api

import benzosafe.web.cds.schemas as cds_schemas
import benzosafe.web.clinic.schemas as clinic_schemas
from benzosafe.web.cds.app import create_cds_app
from benzosafe.web.cds.settings import CdsSettings

METHODS = ("get", "post", "put", "patch", "delete")
CLINIC_ERRORS = {"401", "403", "404", "409", "422", "500"}


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, item[method])
        for path, item in doc["paths"].items()
        for method in METHODS
        if method in item
    ]


def _ref(response: dict[str, Any], media: str = "application/json") -> str | None:
    schema = response.get("content", {}).get(media, {}).get("schema", {})
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if isinstance(ref, str) else None


def test_every_api_route_declares_its_answer_and_the_error_shape(app: FastAPI) -> None:
    doc = app.openapi()
    api = [(m, p, op) for m, p, op in _operations(doc) if p.startswith("/api/")]
    assert len(api) >= 20
    for method, path, op in api:
        responses = op["responses"]
        success = [code for code in responses if code.startswith("2")]
        assert len(success) == 1, (method, path)
        ok = responses[success[0]]
        content = ok.get("content", {})
        if path.endswith("plan.{kind}"):
            assert set(content) == {"application/pdf", "text/calendar", "application/fhir+json"}
        elif "application/json" not in content:  # a FHIR resource, with its media type
            assert content and all("schema" in media for media in content.values()), path
        else:
            name = _ref(ok)
            assert name is not None, (method, path)
            assert name in doc["components"]["schemas"]
            assert doc["components"]["schemas"][name].get("properties"), name
        assert set(responses) >= CLINIC_ERRORS, (method, path)
        for code in CLINIC_ERRORS:
            assert _ref(responses[code]) == "ErrorBody", (method, path, code)
    error = doc["components"]["schemas"]["ErrorDetail"]["properties"]
    assert set(error) == {"status", "code", "message", "field", "allowed"}


def test_every_cds_route_declares_its_answer_and_operation_outcomes() -> None:
    doc = create_cds_app(CdsSettings(allow_unauthenticated=True)).openapi()
    expected = {
        ("get", "/cds-services"): "Discovery",
        ("post", "/cds-services/{service_id}"): "Cards",
        ("post", "/cds-services/{service_id}/feedback"): "FeedbackStored",
    }
    found = {(m, p): op for m, p, op in _operations(doc)}
    assert set(found) == set(expected)
    for key, op in found.items():
        responses = op["responses"]
        assert _ref(responses["200"]) == expected[key]
        assert "422" not in responses  # the service answers 400, never FastAPI's 422
        errors = [code for code in responses if code[0] in "45"]
        assert "401" in errors
        for code in errors:
            assert _ref(responses[code], "application/fhir+json") == "OperationOutcome", code


def _declared(app: FastAPI, method: str, template: str, status: int) -> type[BaseModel]:
    op = app.openapi()["paths"][template][method]
    name = _ref(op["responses"][str(status)])
    assert name is not None, (method, template, status)
    model = getattr(clinic_schemas, name)
    assert isinstance(model, type) and issubclass(model, BaseModel)
    return model


def _holds(app: FastAPI, method: str, template: str, response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    _declared(app, method, template, status).model_validate(response.json())


def test_what_the_routes_answer_is_what_they_declare(
    app: FastAPI, clinician: Api, as_role: Any, patient_id: int
) -> None:
    p = f"/api/patients/{patient_id}"
    order = {"drug": "clonazepam", "dose": "0.5 mg", "frequency": "tid", "indication": "anxiety"}
    taper = {"drug": "clonazepam", "dose": "2 mg/day", "split": "1 mg bid", "start": "2026-12-01"}
    _holds(app, "get", "/api/session", clinician.get("/api/session"), 200)
    _holds(app, "get", "/api/patients", clinician.get("/api/patients?q=Testperson"), 200)
    _holds(app, "get", "/api/patients/{patient_id}", clinician.get(p), 200)
    intake = clinician.post(f"{p}/intakes", {"drug": "clonazepam", "daily_dose": "2 mg/day"})
    _holds(app, "post", "/api/patients/{patient_id}/intakes", intake, 201)
    decision = clinician.post(f"/api/intakes/{intake.json()['id']}/decision", {"decision": "admit"})
    _holds(app, "post", "/api/intakes/{intake_id}/decision", decision, 200)
    _holds(
        app,
        "post",
        "/api/check",
        clinician.post("/api/check", {"order": order, "patient": {"age": 50}}),
        200,
    )
    _holds(
        app,
        "post",
        "/api/patients/{patient_id}/prescriptions",
        clinician.post(f"{p}/prescriptions", {"order": order}),
        201,
    )
    _holds(
        app,
        "post",
        "/api/patients/{patient_id}/doses",
        clinician.post(f"{p}/doses", {"day": "2026-12-01", "daily_dose": "2 mg/day"}),
        201,
    )
    _holds(
        app,
        "post",
        "/api/patients/{patient_id}/assessments",
        clinician.post(f"{p}/assessments", {"instrument": "sds", "answers": [2, 2, 1, 1, 0]}),
        201,
    )
    _holds(
        app,
        "post",
        "/api/patients/{patient_id}/side-effects",
        clinician.post(f"{p}/side-effects", {"symptoms": ["dizzy"]}),
        201,
    )
    _holds(app, "post", "/api/taper/preview", clinician.post("/api/taper/preview", taper), 200)
    plan = clinician.post(f"{p}/taper-plans", taper)
    _holds(app, "post", "/api/patients/{patient_id}/taper-plans", plan, 201)
    plan_id = plan.json()["id"]
    _holds(
        app,
        "post",
        "/api/taper-plans/{taper_plan_id}/adjustments",
        clinician.post(
            f"/api/taper-plans/{plan_id}/adjustments",
            {
                "expected_version": 1,
                "on": "2026-12-20",
                "reason": "poorly tolerated",
                "tolerability": "poor",
            },
        ),
        200,
    )
    _holds(
        app,
        "get",
        "/api/taper-plans/{taper_plan_id}",
        clinician.get(f"/api/taper-plans/{plan_id}"),
        200,
    )
    _holds(app, "get", "/api/patients/{patient_id}/chart", clinician.get(f"{p}/chart"), 200)
    _holds(app, "get", "/api/drugs/{name}", clinician.get("/api/drugs/clonazepam"), 200)
    admin = as_role("admin")
    _holds(app, "get", "/api/users", admin.get("/api/users"), 200)
    _holds(app, "get", "/api/audit", admin.get(f"/api/audit?patient_id={patient_id}"), 200)
    for response, status in [
        (clinician.get("/api/patients/999999999"), 404),
        (clinician.post("/api/check", {"order": {"drug": "clonazepam"}}), 422),
        (admin.get(p), 403),
    ]:
        assert response.status_code == status, response.text
        clinic_schemas.ErrorBody.model_validate(response.json())


def test_cds_answers_are_what_the_service_declares() -> None:
    from fastapi.testclient import TestClient

    from benzosafe.web.cds.examples import ORDER_SELECT

    app = create_cds_app(CdsSettings(allow_unauthenticated=True))
    with TestClient(app) as client:
        cds_schemas.Discovery.model_validate(client.get("/cds-services").json())
        cards = client.post("/cds-services/benzosafe-order-select", json=ORDER_SELECT)
        assert cards.status_code == 200
        assert cds_schemas.Cards.model_validate(cards.json()).cards
        missing = client.post("/cds-services/nothing-here", json=ORDER_SELECT)
        assert missing.status_code == 404
        cds_schemas.OperationOutcome.model_validate(missing.json())
