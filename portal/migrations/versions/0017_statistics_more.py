"""Intygsstatistik: units' county, doctors' gender and birth year, the cubes by diagnosis category, county and
doctor, and the regions' listing files (Regionsstatistik)

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("care_units") as batch:
        batch.add_column(sa.Column("county", sa.String(length=2), nullable=True))
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("gender", sa.String(length=1), nullable=True))
        batch.add_column(sa.Column("birth_year", sa.Integer(), nullable=True))
    op.create_table(
        "stat_category_cube",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("age_group", sa.String(length=8), nullable=False),
        sa.Column("degree", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("chapter", sa.String(length=10), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "unit_id", "category", "age_group", "degree"),
    )
    op.create_index("ix_stat_category_cube_provider_month", "stat_category_cube", ["provider_id", "month"])
    op.create_table(
        "stat_category_national",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("category", sa.String(length=10), nullable=False),
        sa.Column("age_group", sa.String(length=8), nullable=False),
        sa.Column("degree", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("chapter", sa.String(length=10), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "category", "age_group", "degree"),
    )
    op.create_table(
        "stat_county_cube",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("county", sa.String(length=2), nullable=False),
        sa.Column("chapter", sa.String(length=10), nullable=False),
        sa.Column("age_group", sa.String(length=8), nullable=False),
        sa.Column("degree", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "county", "chapter", "age_group", "degree"),
    )
    op.create_table(
        "stat_doctors",
        sa.Column("doctor_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.String(length=10), nullable=False),
        sa.Column("gender", sa.String(length=1), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("doctor_id"),
    )
    op.create_table(
        "stat_doctor_cube",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.String(length=10), nullable=False),
        sa.Column("doctor_gender", sa.String(length=1), nullable=False),
        sa.Column("doctor_age", sa.String(length=8), nullable=False),
        sa.Column("chapter", sa.String(length=10), nullable=False),
        sa.Column("age_group", sa.String(length=8), nullable=False),
        sa.Column("degree", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("month", "unit_id", "position", "doctor_gender", "doctor_age", "chapter",
                                "age_group", "degree"),
    )
    op.create_index("ix_stat_doctor_cube_provider_month", "stat_doctor_cube", ["provider_id", "month"])
    op.create_table(
        "region_files",
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("provider_id"),
    )
    op.create_table(
        "region_listings",
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("unit_name", sa.String(length=200), nullable=False),
        sa.Column("listed", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["provider_id"], ["region_files.provider_id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("provider_id", "unit_id"),
    )
    op.execute("DELETE FROM stat_state")  # the next `portal statistics` run is a full one and fills the cubes


def downgrade() -> None:
    op.drop_table("region_listings")
    op.drop_table("region_files")
    op.drop_index("ix_stat_doctor_cube_provider_month", table_name="stat_doctor_cube")
    op.drop_table("stat_doctor_cube")
    op.drop_table("stat_doctors")
    op.drop_table("stat_county_cube")
    op.drop_table("stat_category_national")
    op.drop_index("ix_stat_category_cube_provider_month", table_name="stat_category_cube")
    op.drop_table("stat_category_cube")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("birth_year")
        batch.drop_column("gender")
    with op.batch_alter_table("care_units") as batch:
        batch.drop_column("county")
