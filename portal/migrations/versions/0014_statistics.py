"""Intygsstatistik's tables: de-identified case-months, certificates and FK questions per month, the job's state

stat_case_months: one row per sick-leave case and month (no personnummer: a keyed hash of the patient, gender,
age group); stat_certificate_months and stat_question_months: counts per month, unit and type or subject;
stat_state: the job's watermark and last runs.

Revision ID: 0014
Revises: 0013
"""
import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stat_case_months",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_key", sa.String(length=32), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("doctor_id", sa.String(length=64), nullable=True),
        sa.Column("gender", sa.String(length=1), nullable=False),
        sa.Column("age_group", sa.String(length=8), nullable=False),
        sa.Column("chapter", sa.String(length=10), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("degree", sa.Integer(), nullable=False),
        sa.Column("length_bucket", sa.String(length=10), nullable=False),
        sa.Column("started", sa.Boolean(), nullable=False),
        sa.Column("arrived", sa.Boolean(), nullable=False),
        sa.Column("ended", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stat_case_months", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stat_case_months_month"), ["month"], unique=False)
        batch_op.create_index(batch_op.f("ix_stat_case_months_patient_key"), ["patient_key"], unique=False)
        batch_op.create_index("ix_stat_case_months_provider_month", ["provider_id", "month"], unique=False)
        batch_op.create_index("ix_stat_case_months_unit_month", ["unit_id", "month"], unique=False)
    op.create_table(
        "stat_certificate_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("type_code", sa.String(length=20), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("certificates", sa.Integer(), nullable=False),
        sa.Column("with_komplettering", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "unit_id", "type_code"),
    )
    op.create_table(
        "stat_question_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=10), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("questions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "unit_id", "subject"),
    )
    op.create_table(
        "stat_state",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("stat_state")
    op.drop_table("stat_question_months")
    op.drop_table("stat_certificate_months")
    with op.batch_alter_table("stat_case_months", schema=None) as batch_op:
        batch_op.drop_index("ix_stat_case_months_unit_month")
        batch_op.drop_index("ix_stat_case_months_provider_month")
        batch_op.drop_index(batch_op.f("ix_stat_case_months_patient_key"))
        batch_op.drop_index(batch_op.f("ix_stat_case_months_month"))
    op.drop_table("stat_case_months")
