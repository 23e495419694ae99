"""A patient's saved taper plan downloaded as FHIR over HTTP: application/fhir+json, a Bundle
the R4B models accept, the patient named by MRN, the page linking to it, roles enforced."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B.bundle import Bundle
from support import Api

TAPER = {"drug": "clonazepam", "dose": "2 mg/day", "split": "1 mg bid", "start": "2026-12-01",
         "reduce": "10%", "every": "14d"}  # fmt: skip


def test_saved_plan_as_fhir(clinician: Api, as_role: Any, patient_id: int) -> None:
    created = clinician.post(f"/api/patients/{patient_id}/taper-plans", TAPER)
    assert created.status_code == 201, created.text
    plan = created.json()
    url = f"/api/taper-plans/{plan['id']}/plan.fhir.json"
    response = clinician.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    assert 'filename="taper-plan-' in response.headers["content-disposition"]
    bundle = response.json()
    Bundle.model_validate(bundle)
    care_plan = bundle["entry"][0]["resource"]
    assert care_plan["resourceType"] == "CarePlan" and care_plan["status"] == "active"
    mrn = clinician.get(f"/api/patients/{patient_id}").json()["mrn"]
    assert care_plan["subject"]["identifier"]["value"] == mrn
    steps = plan["versions"][-1]["plan"]["steps"]
    requests = [e["resource"] for e in bundle["entry"][1:]]
    assert len(requests) == len(steps) - 1  # every step but the stop
    assert requests[0]["dispenseRequest"]["validityPeriod"]["start"] == "2026-12-01"
    page = clinician.get(f"/patients/{patient_id}", headers={"accept": "text/html"}).text
    assert f'href="{url}"' in page
    assert as_role("admissions").get(url).status_code == 403
