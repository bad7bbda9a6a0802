"""live assessment totals: the covering index of totals skips deleted administrations

An administration deleted in error (soft delete, `deleted_at` set) must not feed the models, the
dashboard or the monitoring outcomes. Their reads now say `deleted_at IS NULL`; a partial
covering index with that condition answers them from the index alone, as 0008's did. Every
feature row is marked stale, so rows computed before deletions were skipped are rebuilt.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = ["patient_id", "instrument", "administered_at", "total"]


def upgrade() -> None:
    op.drop_index("ix_assessment_responses_totals", table_name="assessment_responses")
    op.create_index(
        "ix_assessment_responses_live_totals",
        "assessment_responses",
        COLUMNS,
        sqlite_where=sa.text("deleted_at IS NULL"),
    )
    op.execute("UPDATE patient_feature_rows SET stale = 1")


def downgrade() -> None:
    op.drop_index("ix_assessment_responses_live_totals", table_name="assessment_responses")
    op.create_index("ix_assessment_responses_totals", "assessment_responses", COLUMNS)
    op.execute("UPDATE patient_feature_rows SET stale = 1")
