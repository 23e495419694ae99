"""A synthetic clinic for demonstrations and load tests: clearly fake people, real checks.

Every patient is named ``Demo-...`` with an MRN starting ``DEMO-``; nothing here is a real
person. Prescriptions are checked and intakes recommended with the real clinical core, so
their reports are real, and each patient's status follows their intake: "admitted" and
"referred" patients have an intake decided that way, "intake" patients one awaiting a
decision or none yet.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from benzosafe.knowledge.bundle import Knowledge
from benzosafe.store import accounts, records
from benzosafe.store.models import (
    AuditEventRow,
    DoseRecordRow,
    IntakeRow,
    PatientRow,
    UserRow,
    utcnow,
)

DEMO_USERS = (
    ("admin", "admin", "Demo Admin", "demo-admin-password"),
    ("clinician", "clinician", "Dr Demo Clinician", "demo-clinician-password"),
    ("admissions", "admissions", "Demo Admissions", "demo-admissions-password"),
)
_FAMILY = (
    "Alder", "Birch", "Cedar", "Dogwood", "Elm", "Fir", "Ginkgo", "Hazel", "Ivy", "Juniper",
    "Kauri", "Larch", "Maple", "Nutmeg", "Oak", "Pine", "Quince", "Rowan", "Spruce", "Teak",
)  # fmt: skip
_GIVEN = (
    "Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ira", "Jo",
    "Kit", "Lou", "Mae", "Ned", "Ola", "Pip", "Quin", "Rae", "Sol", "Tam",
)  # fmt: skip
_ORDERS: tuple[tuple[dict[str, Any], dict[str, Any]], ...] = (
    (
        {
            "drug": "clonazepam",
            "dose": "0.5 mg",
            "frequency": "bid",
            "indication": "panic-disorder",
        },
        {"weight": "70 kg"},
    ),
    (
        {
            "drug": "clonazepam",
            "dose": "1 mg",
            "frequency": "tid",
            "indication": "seizure-disorder",
            "duration_days": 120,
        },
        {"also_taking": ["oxycodone 10 mg qid"], "conditions": ["sleep-apnoea"]},
    ),
)


# Intake answers by the status they lead to: an outpatient taper the team admits, a history of
# withdrawal seizures the team refers on, and one awaiting the team's decision.
_INTAKE_FACTS: dict[str, dict[str, Any]] = {
    "admitted": {
        "withdrawal_seizure_history": False,
        "withdrawal_delirium_history": False,
        "suicidality": False,
        "support_at_home": True,
    },
    "referred": {"withdrawal_seizure_history": True, "support_at_home": False},
    "intake": {"withdrawal_seizure_history": False, "support_at_home": True},
}
_DECISION = {"admitted": "admit", "referred": "refer"}


def is_empty(session: Session) -> bool:
    return not session.scalar(select(func.count()).select_from(UserRow))


def add_demo_users(session: Session) -> list[tuple[str, str, str]]:
    """The three demo users; answers (username, role, password)."""
    out = []
    for username, role, name, password in DEMO_USERS:
        accounts.create_user(session, records.SYSTEM, username, password, role, name)
        out.append((username, role, password))
    return out


def add_demo_patients(
    session: Session, count: int, kb: Knowledge, *, detailed: int = 12, seed: int = 7
) -> None:
    """``count`` synthetic patients, bulk-inserted with intakes their status follows; the first
    ``detailed`` are admitted and get a chart whose prescriptions are checked against ``kb``."""
    from benzosafe.clinical.level_of_care import recommend_level_of_care
    from benzosafe.store.records import Actor

    rng = random.Random(seed)
    start = session.scalar(select(func.count()).select_from(PatientRow)) or 0
    today = date.today()
    statuses = [
        "admitted" if i < detailed else rng.choice(("intake", "admitted", "admitted", "referred"))
        for i in range(count)
    ]
    births = [today - timedelta(days=rng.randint(18 * 365, 85 * 365)) for _ in range(count)]
    rows = [
        {
            "mrn": f"DEMO-{start + i + 1:06d}",
            "family_name": f"Demo-{rng.choice(_FAMILY)}",
            "given_name": rng.choice(_GIVEN),
            "birth_date": births[i],
            "status": statuses[i],
            "created_at": utcnow(),
        }
        for i in range(count)
    ]
    for chunk in range(0, len(rows), 2000):
        session.execute(insert(PatientRow), rows[chunk : chunk + 2000])
    session.execute(
        insert(AuditEventRow),
        [{"at": utcnow(), "username": "system", "action": "demo.create", "what": f"{count}"}],
    )
    clinician = session.scalar(select(UserRow).where(UserRow.role == "clinician"))
    if clinician is None:
        return
    ids = session.scalars(
        select(PatientRow.id).where(PatientRow.id > start).order_by(PatientRow.id)
    ).all()
    recommended: dict[tuple[str, str, int], dict[str, Any]] = {}
    intakes = []
    for i, (patient_id, row) in enumerate(zip(ids, rows, strict=True)):
        status = str(row["status"])
        if status == "intake" and rng.random() < 0.5:
            continue  # registered, intake not yet taken
        # the detailed patients' doses below alternate 1 and 3 mg/day, as their orders do
        dose = (
            ("1 mg/day" if i % 2 == 0 else "3 mg/day")
            if i < detailed
            else rng.choice(("0.5 mg/day", "1 mg/day", "2 mg/day", "3 mg/day"))
        )
        birth = births[i]
        age = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
        key = (status, dose, age)
        if key not in recommended:
            answers: dict[str, Any] = {
                "drug": "clonazepam",
                "daily_dose": dose,
                "duration_of_use_months": "24",
            }
            answers.update(_INTAKE_FACTS[status], age=age)
            recommended[key] = {
                "answers": answers,
                "recommendation": recommend_level_of_care(answers, kb).to_dict(),
            }
        decision = _DECISION.get(status)
        intakes.append(
            {
                "patient_id": patient_id,
                "recorded_by": clinician.id,
                "recorded_at": utcnow(),
                **recommended[key],
                "decision": decision,
                "decided_by": clinician.id if decision else None,
                "decided_at": utcnow() if decision else None,
            }
        )
    for chunk in range(0, len(intakes), 2000):
        session.execute(insert(IntakeRow), intakes[chunk : chunk + 2000])
    actor = Actor(clinician.id, clinician.username, clinician.role)
    patients = session.scalars(
        select(PatientRow).where(PatientRow.id > start).order_by(PatientRow.id).limit(detailed)
    ).all()
    from benzosafe.clinical.check import check_raw

    for n, patient in enumerate(patients):
        order, facts = _ORDERS[n % len(_ORDERS)]
        facts = {**facts, "age": patient.age_on(today)}
        order = {**order, "start": (today - timedelta(days=28)).isoformat()}
        report = check_raw(order, facts, kb)
        records.add_prescription(
            session, actor, patient, order, facts, report.to_dict(), report.worst()
        )
        daily = 1.0 if n % 2 == 0 else 3.0
        for day in range(14):
            mg = daily if day < 7 else daily * 0.9
            session.add(
                DoseRecordRow(
                    patient_id=patient.id,
                    day=today - timedelta(days=14 - day),
                    daily_mg=f"{0 if day == 9 else mg:g}",
                    note="hold: drowsy" if day == 9 else "",
                    recorded_by=clinician.id,
                )
            )
