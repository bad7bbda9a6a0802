"""clinical history: the intake history on the patient, why a medication was stopped

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("patients", schema=None) as batch_op:
        batch_op.add_column(sa.Column("history_json", sa.Text(), nullable=True))
    with op.batch_alter_table("medications", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stop_reason", sa.String(length=32), nullable=True))


def downgrade() -> None:
    # SQLite (3.35+) drops a plain column in place; recreating `patients` would break the
    # foreign keys that point at it
    with op.batch_alter_table("medications", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("stop_reason")
    with op.batch_alter_table("patients", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("history_json")
