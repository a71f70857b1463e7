"""Intygsstatistik: published (suppressed) tables, kept under the hash of their counts (stat_published), and the
smaller cubes by care provider and by unit, and without the length (stat_provider_cube, stat_unit_cube,
stat_national_short, stat_provider_short), the category and doctor cubes by provider (stat_category_provider,
stat_position_cube, stat_doctor_age_cube), and the cubes by unit indexed by unit

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
    for name, scope in (("stat_national_short", []), ("stat_provider_short", ["provider_id"])):
        op.create_table(
            name,
            sa.Column("month", sa.Date(), nullable=False),
            *[sa.Column(c, sa.String(length=64), nullable=False) for c in scope],
            sa.Column("gender", sa.String(length=1), nullable=False),
            sa.Column("age_group", sa.String(length=8), nullable=False),
            sa.Column("chapter", sa.String(length=10), nullable=False),
            sa.Column("degree", sa.Integer(), autoincrement=False, nullable=False),
            *[sa.Column(c, sa.Integer(), nullable=False) for c in ("cases", "started", "arrived", "ended")],
            sa.PrimaryKeyConstraint("month", *scope, "gender", "age_group", "chapter", "degree"),
        )
    dims = {"category": sa.String(length=10), "position": sa.String(length=10), "doctor_gender": sa.String(length=1),
            "doctor_age": sa.String(length=8), "chapter": sa.String(length=10), "age_group": sa.String(length=8)}
    for name, keys, extra in (("stat_category_provider", ("category", "age_group", "degree"), ("chapter",)),
                              ("stat_position_cube", ("position", "chapter", "age_group", "degree"), ()),
                              ("stat_doctor_age_cube", ("doctor_gender", "doctor_age", "chapter", "age_group",
                                                        "degree"), ())):
        op.create_table(
            name,
            sa.Column("month", sa.Date(), nullable=False),
            sa.Column("provider_id", sa.String(length=64), nullable=False),
            *[sa.Column(k, sa.Integer(), autoincrement=False, nullable=False) if k == "degree"
              else sa.Column(k, dims[k], nullable=False) for k in keys + extra],
            sa.Column("cases", sa.Integer(), nullable=False),
            sa.PrimaryKeyConstraint("month", "provider_id", *keys),
        )
    for table in ("stat_case_cube", "stat_unit_cube", "stat_category_cube", "stat_doctor_cube"):
        op.create_index(f"ix_{table}_unit_month", table, ["unit_id", "month"])
    op.execute("DELETE FROM stat_state")  # the next `portal statistics` run is a full one and fills the cubes


def downgrade() -> None:
    for table in ("stat_case_cube", "stat_unit_cube", "stat_category_cube", "stat_doctor_cube"):
        op.drop_index(f"ix_{table}_unit_month", table_name=table)
    for table in ("stat_doctor_age_cube", "stat_position_cube", "stat_category_provider"):
        op.drop_table(table)
    op.drop_table("stat_provider_short")
    op.drop_table("stat_national_short")
    op.drop_index("ix_stat_unit_cube_provider_month", table_name="stat_unit_cube")
    op.drop_table("stat_unit_cube")
    op.drop_table("stat_provider_cube")
    op.drop_table("stat_published")
