"""The site protocol in the clinician web app (#20): shown on the admin page, named beside the
knowledge version on every result, and a change of protocol written to the audit log."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from support import PASSWORD, Api

from benzosafe.knowledge import load
from benzosafe.store import accounts, records
from benzosafe.store.models import AuditEventRow
from benzosafe.web.clinic.app import create_app
from benzosafe.web.clinic.settings import Settings

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "protocols" / "example-clinic.toml"


def _protocol_events(url: str) -> list[str]:
    app = create_app(Settings(environment="test", secret_key="t" * 40, database_url=url))
    with app.state.sessions() as s:
        rows = s.scalars(select(AuditEventRow).where(AuditEventRow.action == "protocol.active"))
        out = [r.what for r in rows]
    app.state.engine.dispose()
    return out


def test_protocol_shown_named_and_audited(
    empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = empty_database_url
    settings = Settings(environment="test", secret_key="t" * 40, database_url=url)
    monkeypatch.delenv("BENZOSAFE_PROTOCOL", raising=False)
    app = create_app(settings)
    with app.state.sessions() as s:
        for role in ("admin", "clinician"):
            accounts.create_user(s, records.SYSTEM, f"p-{role}", PASSWORD, role)
        s.commit()
    app.state.engine.dispose()
    assert _protocol_events(url) == []  # the cited defaults from the start: nothing to note
    protocol = tmp_path / "protocol.toml"
    protocol.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("BENZOSAFE_PROTOCOL", str(protocol))
    app = create_app(settings)  # start-up with a protocol: audited once
    assert len(_protocol_events(url)) == 1
    assert _protocol_events(url)[0].startswith("Example Clinic benzodiazepine protocol version")

    admin = Api(app)
    assert admin.sign_in("p-admin").status_code == 200
    shown = admin.get("/admin/protocol").text
    assert "Example Clinic benzodiazepine protocol" in shown and "2026-12" in shown
    assert "Example Clinic policy 12.3" in shown and "va-dod" in shown
    assert app.state.engine  # the admin's reload of an unchanged file notes nothing
    assert "the same protocol as last recorded" in admin.form("/admin/protocol/reload", {}).text
    assert len(_protocol_events(url)) == 1

    clinician = Api(app)
    assert clinician.sign_in("p-clinician").status_code == 200
    order = {"drug": "clonazepam", "dose": "0.5 mg", "frequency": "bid",
             "indication": "panic-disorder", "start": "2026-12-01", "age": "40"}  # fmt: skip
    report = clinician.form("/check", order).text
    assert "site protocol <strong>Example Clinic benzodiazepine protocol</strong>" in report
    assert "(va-dod table)" in report
    # a CIWA-B score gets the protocol's band, and the patient page names the protocol
    patient = clinician.post(
        "/api/patients",
        {"mrn": "P-1", "family_name": "Protocol", "given_name": "Pat", "birth_date": "1970-01-01"},
    ).json()["id"]
    items = len(load().assessment.instruments["ciwa-b"].items)
    scored = clinician.post(
        f"/api/patients/{patient}/assessments", {"instrument": "ciwa-b", "answers": [1] * items}
    )
    assert scored.status_code == 201, scored.text
    chart = clinician.get(f"/patients/{patient}").text
    assert "<td>mild</td>" in chart and "site protocol <strong>Example Clinic" in chart
    # the drug page's body is rendered once per knowledge: it names the protocol in force
    drug = clinician.get("/drugs/clonazepam").text
    assert "site protocol <strong>Example Clinic" in drug and "version 2026-12" in drug
    brand = clinician.get("/drugs/Klonopin").text  # a brand name: the same drug's body
    assert "<h1>Clonazepam" in brand and "version 2026-12" in brand

    # the clinic edits its protocol: the reload sees a new hash and audits it
    protocol.write_text(
        protocol.read_text(encoding="utf-8").replace('version = "2026-12"', 'version = "2027-01"'),
        encoding="utf-8",
    )
    reloaded = admin.form("/admin/protocol/reload", {}).text
    assert "The protocol changed since the last one recorded" in reloaded and "2027-01" in reloaded
    events = _protocol_events(url)
    assert len(events) == 2 and "version 2027-01" in events[1]
    drug = clinician.get("/drugs/clonazepam").text  # the kept body is not the new knowledge's
    assert "version 2027-01" in drug and "version 2026-12" not in drug
    monkeypatch.delenv("BENZOSAFE_PROTOCOL")
    assert "No site protocol" in admin.form("/admin/protocol/reload", {}).text
    assert _protocol_events(url)[-1] == "none"
    assert "site protocol" not in clinician.form("/check", order).text
    assert "site protocol" not in clinician.get("/drugs/clonazepam").text
    unknown = clinician.get("/drugs/no-such-drug")  # an error, never a kept body
    assert unknown.status_code == 422 and "no-such-drug" in unknown.text
    app.state.engine.dispose()
