"""The patient search's text, one stored lower-case column (issue #18).

PostgreSQL's search compared ``lower()`` of the family name, the given name and the MRN on
every row: about 14 ms a search of 10,000 patients, where a LIKE on one stored column takes
about 3 ms. ``patients.search_text`` is a generated column (``GENERATED ALWAYS AS ... STORED``
on PostgreSQL), so the database keeps it true on every insert and update. SQLite cannot add
a stored generated column to a table, so there it is a virtual one (computed when read): its
search keeps comparing the three columns, already without ``lower()`` (its LIKE ignores ASCII
case).

Revision ID: 0005_patient_search_text
"""

from __future__ import annotations

from alembic import op

revision = "0005_patient_search_text"
down_revision = "0004_user_sessions"
branch_labels = None
depends_on = None

# As models.PATIENT_SEARCH_TEXT (a migration keeps its own copy: it must not change with the
# model).
EXPRESSION = "lower(family_name) || '|' || lower(given_name) || '|' || lower(mrn)"


def upgrade() -> None:
    kind = "STORED" if op.get_bind().dialect.name == "postgresql" else "VIRTUAL"
    op.execute(
        "ALTER TABLE patients ADD COLUMN search_text TEXT "
        f"GENERATED ALWAYS AS ({EXPRESSION}) {kind}"
    )


def downgrade() -> None:
    op.execute("ALTER TABLE patients DROP COLUMN search_text")
