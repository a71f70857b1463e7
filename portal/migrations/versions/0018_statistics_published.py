"""Intygsstatistik: published (suppressed) tables, kept under the hash of their counts (stat_published), and the
smaller cubes by care provider and by unit (stat_provider_cube, stat_unit_cube)

Revision ID: 0018
Revises: 0017
"""
import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stat_published",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    flags = [sa.Column(name, sa.Integer(), nullable=False) for name in ("cases", "started", "arrived", "ended")]
    op.create_table(
        "stat_provider_cube",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("gender", sa.String(length=1), nullable=False),
        sa.Column("age_group", sa.String(length=8), nullable=False),
        sa.Column("chapter", sa.String(length=10), nullable=False),
        sa.Column("degree", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("length_bucket", sa.String(length=10), nullable=False),
        *flags,
        sa.PrimaryKeyConstraint("month", "provider_id", "gender", "age_group", "chapter", "degree", "length_bucket"),
    )
    flags = [sa.Column(name, sa.Integer(), nullable=False) for name in ("cases", "started", "arrived", "ended")]
    op.create_table(
        "stat_unit_cube",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("chapter", sa.String(length=10), nullable=False),
        sa.Column("age_group", sa.String(length=8), nullable=False),
        sa.Column("degree", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        *flags,
        sa.PrimaryKeyConstraint("month", "unit_id", "chapter", "age_group", "degree"),
    )
    op.create_index("ix_stat_unit_cube_provider_month", "stat_unit_cube", ["provider_id", "month"])
    op.execute("DELETE FROM stat_state")  # the next `portal statistics` run is a full one and fills the cubes


def downgrade() -> None:
    op.drop_index("ix_stat_unit_cube_provider_month", table_name="stat_unit_cube")
    op.drop_table("stat_unit_cube")
    op.drop_table("stat_provider_cube")
    op.drop_table("stat_published")
