"""The clinic's workflow over HTTP (#18): the patient list's search and paging, the taper
builder's prefill and dose warning, findings merged, sources linked to a reference list."""

from __future__ import annotations

import re
import uuid

from support import Api


def _register(api: Api, prefix: str, n: int) -> None:
    body = {"family_name": f"{prefix}-{n:03d}", "given_name": "Paging", "birth_date": "1970-01-01"}
    response = api.post("/api/patients", {**body, "mrn": f"{prefix}-{n:03d}"})
    assert response.status_code == 201, response.text


def test_patient_list_searches_and_pages(clinician: Api) -> None:
    prefix = f"PG{uuid.uuid4().hex[:6]}"
    for n in range(57):
        _register(clinician, prefix, n)
    first = clinician.get("/patients", params={"q": prefix.lower()})
    assert first.status_code == 200
    assert f'Patients 1 to 50 of 57 matching "{prefix.lower()}"' in first.text
    assert first.text.count(f">{prefix}-") == 50 * 2  # name and MRN cells
    assert "Page 1 of 2" in first.text and "Previous page" not in first.text
    link = re.search(r'href="([^"]+)">Next page', first.text)
    assert link is not None
    second = clinician.get(link.group(1).replace("&amp;", "&"))
    assert "Patients 51 to 57 of 57" in second.text and "Next page" not in second.text
    assert f">{prefix}-056<" in second.text and f">{prefix}-000<" not in second.text
    # a page past the end goes to the last page; a search by MRN finds one
    beyond = clinician.get("/patients", params={"q": prefix, "page": 9}, follow_redirects=False)
    assert beyond.status_code == 303 and beyond.headers["location"].endswith("page=2")
    one = clinician.get("/patients", params={"q": f"{prefix}-013"})
    assert "Patients 1 to 1 of 1" in one.text and "Page 1 of" not in one.text
    api = clinician.get("/api/patients", params={"q": prefix, "limit": 10, "offset": 50})
    assert api.json()["total"] == 57 and len(api.json()["patients"]) == 7


def test_taper_builder_prefills_the_last_dose_and_warns_on_a_mismatch(
    clinician: Api, patient_id: int
) -> None:
    for day, dose in (("2026-11-01", "1.5 mg/day"), ("2026-11-02", "1 mg/day"),
                      ("2026-11-03", "0 mg/day")):  # fmt: skip
        response = clinician.form(f"/patients/{patient_id}/doses", {"day": day, "daily_dose": dose})
        assert response.status_code == 303
    form = clinician.get(f"/patients/{patient_id}/taper").text
    # the hold's zero is not the dose the patient takes
    assert 'name="dose" value="1 mg/day"' in form
    assert "Last recorded as taken: 1 mg/day on 2026-11-02" in form
    plan = {"drug": "clonazepam", "split": "1 mg bid", "start": "2026-12-01",
            "reduce": "10%", "every": "14d", "forms": "tablet:0.5 odt:0.125"}  # fmt: skip
    preview = clinician.form(f"/patients/{patient_id}/taper", {**plan, "dose": "2 mg/day"})
    assert preview.status_code == 200 and 'id="dose-warning"' in preview.text
    assert "2 mg/day differs from the last dose recorded as taken, 1 mg/day" in preview.text
    unsaved = clinician.form(
        f"/patients/{patient_id}/taper", {**plan, "dose": "2 mg/day", "intent": "save"}
    )
    assert unsaved.status_code == 200 and "The plan was not saved" in unsaved.text
    assert clinician.get(f"/api/patients/{patient_id}/chart").json()["taper_plans"] == []
    saved = clinician.form(
        f"/patients/{patient_id}/taper",
        {**plan, "dose": "2 mg/day", "intent": "save", "dose_confirmed": "yes"},
    )
    assert saved.status_code == 303
    same = {**plan, "dose": "1 mg/day", "split": "0.5 mg bid"}
    matching = clinician.form(f"/patients/{patient_id}/taper", same)
    assert matching.status_code == 200 and 'id="dose-warning"' not in matching.text


def test_identical_findings_merged_and_sources_linked(clinician: Api) -> None:
    order = {"drug": "clonazepam", "dose": "0.5 mg", "frequency": "bid",
             "indication": "panic-disorder", "start": "2026-12-01", "age": "80"}  # fmt: skip
    page = clinician.form("/check", order).text
    summary = "clonazepam 1 mg/day is above the 0.5 mg/day recommended initial dose"
    assert page.count(summary) == 1  # two rules, one finding shown
    assert "CLZ-INIT-PANIC" in page and "CLZ-INIT-OLDER-ADULT" in page
    assert "2 rules agree" in page
    cited = set(re.findall(r'href="#ref-([^"]+)"', page))
    listed = set(re.findall(r'<li id="ref-([^"]+)"><strong>', page))
    assert "L2" in cited and cited == listed
    assert 'id="references"' in page and '<h2 id="references-h">References</h2>' in page
    # a page that cites nothing has no reference list
    assert 'id="references"' not in clinician.get("/patients").text
