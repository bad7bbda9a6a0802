"""feature indexes: covering index for assessment totals, admissions by kind

The set-based feature assembly (app.services.model_inputs.build_features_many) reads every
patient's PHQ-9/GAD-7 totals three times; a covering index on (patient_id, instrument,
administered_at, total) answers those reads from the index alone instead of the table rows with
their answers JSON, and (kind, patient_id) finds the few admissions among all encounters.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain CREATE INDEX (no table rebuild): existing rows and foreign keys are untouched
    op.create_index(
        "ix_assessment_responses_totals",
        "assessment_responses",
        ["patient_id", "instrument", "administered_at", "total"],
        unique=False,
    )
    op.create_index("ix_encounters_kind_patient", "encounters", ["kind", "patient_id"])


def downgrade() -> None:
    op.drop_index("ix_encounters_kind_patient", table_name="encounters")
    op.drop_index("ix_assessment_responses_totals", table_name="assessment_responses")
