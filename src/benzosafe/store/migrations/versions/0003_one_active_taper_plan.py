"""At most one active taper plan per patient: an ended plan keeps when, by whom and why it
ended, and a partial unique index (``status = 'active'``) holds the rule on SQLite and
PostgreSQL alike.

A database that already has patients with more than one active plan is put right first, the
same way on every run: the newest active plan (latest ``created_at``, then highest id) stays
active, the others end with a reason naming this migration and the plan kept, and each one
ended gets an audit event.

Revision ID: 0003_one_active_plan
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import groupby

import sqlalchemy as sa
from alembic import op

revision = "0003_one_active_plan"
down_revision = "0002"
branch_labels = None
depends_on = None

ACTIVE = sa.text("status = 'active'")


def _end_extra_active_plans() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    active = bind.execute(
        sa.text(
            "SELECT id, patient_id FROM taper_plans WHERE status = 'active' "
            "ORDER BY patient_id, created_at DESC, id DESC"
        )
    ).all()
    for patient_id, rows in groupby(active, key=lambda row: row.patient_id):
        kept, *extra = [row.id for row in rows]
        for plan_id in extra:
            reason = (
                f"ended by database migration {revision} on {now.date().isoformat()}: the patient "
                f"had {len(extra) + 1} active plans and may have one; plan {kept}, the newest, "
                "stays active"
            )
            bind.execute(
                sa.text(
                    "UPDATE taper_plans SET status = 'ended', ended_at = :now, "
                    "end_reason = :reason, version = version + 1 WHERE id = :id"
                ),
                {"now": now, "reason": reason, "id": plan_id},
            )
            bind.execute(
                sa.text(
                    "INSERT INTO audit_events (at, user_id, username, action, patient_id, what) "
                    "VALUES (:now, NULL, 'system', 'taper-plan.end', :patient_id, :what)"
                ),
                {"now": now, "patient_id": patient_id, "what": f"taper plan {plan_id}: {reason}"},
            )


def upgrade() -> None:
    # Plain ADD COLUMNs, no table copy: on SQLite dropping the old table would trip the
    # foreign keys of the plans' versions. ``ended_by`` is a user id like the audit log's.
    op.add_column("taper_plans", sa.Column("ended_at", sa.DateTime(timezone=True)))
    op.add_column("taper_plans", sa.Column("ended_by", sa.Integer))
    op.add_column("taper_plans", sa.Column("end_reason", sa.Text))
    _end_extra_active_plans()
    op.create_index(
        "uq_taper_plans_one_active",
        "taper_plans",
        ["patient_id"],
        unique=True,
        sqlite_where=ACTIVE,
        postgresql_where=ACTIVE,
    )


def downgrade() -> None:
    op.drop_index("uq_taper_plans_one_active", table_name="taper_plans")
    for column in ("end_reason", "ended_by", "ended_at"):
        op.drop_column("taper_plans", column)
