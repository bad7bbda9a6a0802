"""dashboard snapshots: the clinic dashboard's sorted arrays kept in the store, with a change log

Local to the workstation (derived from synced records, never synced; encrypted with the rest of
the file). ``dashboard_snapshots`` holds each array set of app.services.dashboard_cache packed,
as of its source table's newest rowid and the change log's sequence, so a new process loads
one blob and catches up rather than reading a million index entries again. Inserts need no
log (a new row's rowid is above the newest one seen while that row still exists); triggers log
the patient of every edit of a column the arrays read, and of every deletion with the deleted
rowid (a deleted newest row lets SQLite hand its rowid out again: the cache then rebuilds),
whatever writes (ORM, sync merges, bulk SQL). The cache builds its first snapshot on first use.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

LOG = "dashboard_changes"
# source table -> the columns its dashboard arrays read
WATCHED = {
    "assessment_responses": ("patient_id", "instrument", "administered_at", "deleted_at"),
    "predictions": ("patient_id", "band", "target", "option", "generated_at", "deleted_at"),
}


def _triggers() -> list[tuple[str, str]]:
    """(name, CREATE TRIGGER statement): an edit logs the old and (if moved) the new patient;
    a deletion logs the patient and the rowid. Constants only."""
    out = []
    for table, cols in WATCHED.items():
        changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in cols)
        old = f"INSERT INTO {LOG} (name, patient_id) VALUES ('{table}', OLD.patient_id);"  # noqa: S608  # nosec B608
        moved = f"INSERT INTO {LOG} (name, patient_id) SELECT '{table}', NEW.patient_id WHERE NEW.patient_id IS NOT OLD.patient_id;"  # noqa: S608, E501  # nosec B608
        gone = f"INSERT INTO {LOG} (name, patient_id, row_id) VALUES ('{table}', OLD.patient_id, OLD.rowid);"  # noqa: S608, E501  # nosec B608
        upd, dele = f"trg_{table}_update_dashboard", f"trg_{table}_delete_dashboard"
        out.append(
            (
                upd,
                f"CREATE TRIGGER {upd} AFTER UPDATE OF {', '.join(cols)} ON {table} "
                f"WHEN {changed} BEGIN {old} {moved} END",
            )
        )
        out.append((dele, f"CREATE TRIGGER {dele} AFTER DELETE ON {table} BEGIN {gone} END"))
    return out


def upgrade() -> None:
    op.create_table(
        "dashboard_snapshots",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("source_rowid", sa.Integer(), nullable=False),
        sa.Column("change_seq", sa.Integer(), nullable=False),
        sa.Column("layout", sa.Integer(), nullable=False),
        sa.Column("built_at", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        LOG,
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("patient_id", sa.String(36), nullable=True),
        sa.Column("row_id", sa.Integer(), nullable=True),
        sqlite_autoincrement=True,  # a pruned seq is never handed out again
    )
    for _, create in _triggers():
        op.execute(create)


def downgrade() -> None:
    for name, _ in _triggers():
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table(LOG)
    op.drop_table("dashboard_snapshots")
