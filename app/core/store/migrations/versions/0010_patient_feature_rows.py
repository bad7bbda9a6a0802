"""patient feature rows: each patient's time-independent model inputs, kept current per write

Local to the workstation (derived from synced records, never synced). Triggers on every input
table mark the patient's row stale in the writing transaction itself, whatever writes (ORM,
Core, sync merges, bulk SQL); app.services.feature_rows recomputes stale rows before the write
session commits, and a read finishes any row that is stale or missing from the records (never
scoring from it). This migration adds a stale row for every existing patient: write
transactions afterwards build them set-based, up to 1,000 per commit (feature_rows.REFRESH_LIMIT;
10,000 patients take 4-10 s in all on a 2-core machine), and ``feature_rows.rebuild`` builds
them all at once.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TABLE = "patient_feature_rows"
# input table -> optional condition on the changed row (only admissions are model inputs)
INPUT_TABLES = {
    "assessment_responses": None,
    "medications": None,
    "encounters": "{row}.kind = 'admission'",
    "nlp_analyses": None,
    "clinical_notes": None,  # a note's signing time dates its accepted findings
    "actigraphy_series": None,
    "actigraphy_results": None,
}


def _mark(row: str) -> str:
    # constants only (the table and a trigger row alias)
    sql = f"UPDATE {TABLE} SET stale = 1 WHERE patient_id = {row}.patient_id AND stale = 0;"  # noqa: S608  # nosec B608
    return sql


def _triggers() -> list[tuple[str, str]]:
    """(name, CREATE TRIGGER statement) for every input table and the patients table."""
    out = []
    for table, cond in INPUT_TABLES.items():
        for event, rows in (("INSERT", ("NEW",)), ("UPDATE", ("OLD", "NEW")), ("DELETE", ("OLD",))):
            name = f"trg_{table}_{event.lower()}_features"
            when = ""
            if cond is not None:
                when = " WHEN " + " OR ".join(cond.format(row=r) for r in rows)
            body = " ".join(_mark(r) for r in rows)
            out.append(
                (name, f"CREATE TRIGGER {name} AFTER {event} ON {table}{when} BEGIN {body} END")
            )
    out += [
        (
            "trg_patients_insert_features",
            "CREATE TRIGGER trg_patients_insert_features AFTER INSERT ON patients BEGIN "
            "INSERT OR REPLACE INTO patient_feature_rows (patient_id, stale) "
            "VALUES (NEW.id, 1); END",
        ),
        (
            "trg_patients_update_features",
            "CREATE TRIGGER trg_patients_update_features AFTER UPDATE OF id, birth_date, sex, "
            "history_json ON patients BEGIN UPDATE patient_feature_rows SET stale = 1 WHERE "
            "patient_id IN (OLD.id, NEW.id) AND stale = 0; INSERT OR IGNORE INTO "
            "patient_feature_rows (patient_id, stale) "
            "VALUES (NEW.id, 1); END",
        ),
        (
            "trg_patients_delete_features",
            "CREATE TRIGGER trg_patients_delete_features AFTER DELETE ON patients BEGIN "
            "DELETE FROM patient_feature_rows WHERE patient_id = OLD.id; END",
        ),
    ]
    return out


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("patient_id", sa.String(36), primary_key=True),
        sa.Column("stale", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("packed", sa.LargeBinary(), nullable=True),
        sa.Column("recent", sa.LargeBinary(), nullable=True),
        sa.Column("static_json", sa.Text(), nullable=True),
    )
    op.create_index(
        "ix_patient_feature_rows_stale", TABLE, ["stale"], sqlite_where=sa.text("stale = 1")
    )
    for _, create in _triggers():
        op.execute(create)
    op.execute("INSERT INTO patient_feature_rows (patient_id, stale) SELECT id, 1 FROM patients")


def downgrade() -> None:
    for name, _ in _triggers():
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_patient_feature_rows_stale", table_name=TABLE)
    op.drop_table(TABLE)
