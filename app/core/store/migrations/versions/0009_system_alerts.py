"""system alerts: clinic-operations alerts (model drift, security rules, system health)

Local to the workstation (not synced) and free of PHI; see app.services.system_alerts.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "system_alerts",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("evidence_json", sa.Text(), nullable=False),
        sa.Column("triggered_at", sa.DateTime(), nullable=False),
        sa.Column("acted_by", sa.String(36), nullable=True),
        sa.Column("acted_at", sa.DateTime(), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=False),
    )
    op.create_index("ix_system_alerts_open", "system_alerts", ["status", "source", "rule"])


def downgrade() -> None:
    op.drop_index("ix_system_alerts_open", table_name="system_alerts")
    op.drop_table("system_alerts")
