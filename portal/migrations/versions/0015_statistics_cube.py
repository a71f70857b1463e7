"""Intygsstatistik: the case-months counted by every dimension a report uses (stat_case_cube)

Revision ID: 0015
Revises: 0014
"""
import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stat_case_cube",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("gender", sa.String(length=1), nullable=False),
        sa.Column("age_group", sa.String(length=8), nullable=False),
        sa.Column("chapter", sa.String(length=10), nullable=False),
        sa.Column("degree", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("length_bucket", sa.String(length=10), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("started", sa.Integer(), nullable=False),
        sa.Column("arrived", sa.Integer(), nullable=False),
        sa.Column("ended", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "unit_id", "gender", "age_group", "chapter", "degree", "length_bucket"),
    )
    with op.batch_alter_table("stat_case_cube", schema=None) as batch_op:
        batch_op.create_index("ix_stat_case_cube_provider_month", ["provider_id", "month"], unique=False)
    # filled by the next `portal statistics` run (a full one: the job's state is reset)
    op.execute("DELETE FROM stat_state")


def downgrade() -> None:
    with op.batch_alter_table("stat_case_cube", schema=None) as batch_op:
        batch_op.drop_index("ix_stat_case_cube_provider_month")
    op.drop_table("stat_case_cube")
