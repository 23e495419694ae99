"""The demo clinic is consistent: each patient's status follows their intake (#18)."""

from __future__ import annotations

from sqlalchemy import select

from benzosafe.knowledge import load
from benzosafe.store import demo
from benzosafe.store.db import make_engine, session_factory, upgrade
from benzosafe.store.models import DoseRecordRow, IntakeRow, PatientRow


def test_status_follows_the_intake(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    upgrade(engine)
    with session_factory(engine)() as session:
        demo.add_demo_users(session)
        demo.add_demo_patients(session, 80, load(), detailed=6)
        session.commit()
        patients = session.scalars(select(PatientRow)).all()
        intakes: dict[int, list[IntakeRow]] = {}
        for intake in session.scalars(select(IntakeRow).order_by(IntakeRow.id)):
            intakes.setdefault(intake.patient_id, []).append(intake)
        seen = set()
        for p in patients:
            decisions = [i.decision for i in intakes.get(p.id, [])]
            seen.add((p.status, tuple(decisions)))
            if p.status == "admitted":
                assert decisions[-1:] == ["admit"], p.mrn
            elif p.status == "referred":
                assert decisions[-1:] == ["refer"], p.mrn
            else:
                assert p.status == "intake" and decisions in ([], [None]), p.mrn
            for i in intakes.get(p.id, []):
                assert i.recommendation and i.recommendation["level"], p.mrn
        # every kind of patient is there: admitted, referred, awaiting decision, no intake yet
        assert {s for s, _ in seen} == {"admitted", "referred", "intake"}
        assert ("intake", ()) in seen and ("intake", (None,)) in seen
        # a detailed patient's intake dose is the dose recorded before the cut
        first = min(p.id for p in patients)
        doses = session.scalars(
            select(DoseRecordRow)
            .where(DoseRecordRow.patient_id == first)
            .order_by(DoseRecordRow.day)
        ).all()
        assert intakes[first][0].answers["daily_dose"] == f"{float(doses[0].daily_mg):g} mg/day"
    engine.dispose()
