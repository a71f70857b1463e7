"""Intygsstatistik: the case cube summed over the units, for the national reports (stat_national_cube)

Revision ID: 0016
Revises: 0015
"""
import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stat_national_cube",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("gender", sa.String(length=1), nullable=False),
        sa.Column("age_group", sa.String(length=8), nullable=False),
        sa.Column("chapter", sa.String(length=10), nullable=False),
        sa.Column("degree", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("length_bucket", sa.String(length=10), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("started", sa.Integer(), nullable=False),
        sa.Column("arrived", sa.Integer(), nullable=False),
        sa.Column("ended", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "gender", "age_group", "chapter", "degree", "length_bucket"),
    )
    op.execute("DELETE FROM stat_state")  # the next `portal statistics` run is a full one and fills it


def downgrade() -> None:
    op.drop_table("stat_national_cube")
