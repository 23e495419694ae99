"""The initial records schema: users, patients, intakes, prescriptions, taper plans and
their versions, dose records, assessments, side-effect reports, and the append-only audit log.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _common() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False, index=True
        ),
        sa.Column("recorded_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(128), nullable=False),
        sa.Column("password_hash", sa.String(256), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("failed_sign_ins", sa.Integer, nullable=False),
        sa.Column("locked_until", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.CheckConstraint("role IN ('admin', 'clinician', 'admissions')", name="ck_users_role"),
    )
    op.create_table(
        "patients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("mrn", sa.String(32), nullable=False, unique=True),
        sa.Column("family_name", sa.String(128), nullable=False),
        sa.Column("given_name", sa.String(128), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_patients_search", "patients", ["family_name", "given_name"])
    op.create_table(
        "intakes",
        *_common(),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.Column("recommendation", sa.JSON, nullable=True),
        sa.Column("decision", sa.String(16), nullable=True),
        sa.Column("decided_by", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("decided_at", TS, nullable=True),
    )
    op.create_table(
        "prescriptions",
        *_common(),
        sa.Column("recorded_at", TS, nullable=False),
        sa.Column("order", sa.JSON, nullable=False),
        sa.Column("patient_facts", sa.JSON, nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
        sa.Column("worst_severity", sa.String(16), nullable=True),
    )
    op.create_table(
        "taper_plans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "patient_id", sa.Integer, sa.ForeignKey("patients.id"), nullable=False, index=True
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "taper_plan_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "taper_plan_id",
            sa.Integer,
            sa.ForeignKey("taper_plans.id"),
            nullable=False,
            index=True,
        ),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("plan", sa.JSON, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("recorded_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.UniqueConstraint("taper_plan_id", "number", name="uq_taper_plan_version"),
    )
    op.create_table(
        "dose_records",
        *_common(),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("daily_mg", sa.String(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
    )
    op.create_table(
        "assessments",
        *_common(),
        sa.Column("instrument", sa.String(32), nullable=False),
        sa.Column("answers", sa.JSON, nullable=False),
        sa.Column("score", sa.JSON, nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("taken_at", TS, nullable=False),
    )
    op.create_table(
        "side_effect_reports",
        *_common(),
        sa.Column("report", sa.JSON, nullable=False),
        sa.Column("triage", sa.JSON, nullable=False),
        sa.Column("level", sa.String(32), nullable=False),
        sa.Column("reported_at", TS, nullable=False),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TS, nullable=False, index=True),
        sa.Column("user_id", sa.Integer, nullable=True),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("action", sa.String(48), nullable=False),
        sa.Column("patient_id", sa.Integer, nullable=True, index=True),
        sa.Column("what", sa.Text, nullable=False),
    )
    # The audit log is append-only: the database itself refuses to change or drop an event.
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'audit_events is append-only'; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    for table in (
        "audit_events",
        "side_effect_reports",
        "assessments",
        "dose_records",
        "taper_plan_versions",
        "taper_plans",
        "prescriptions",
        "intakes",
        "patients",
        "users",
    ):
        op.drop_table(table)
