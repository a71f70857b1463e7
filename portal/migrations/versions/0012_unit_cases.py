"""Rehabstöd's computed cases kept up to date per patient: which patients each data_version bump changed

unit_changes: one row per bump of care_units.data_version with the patients it touched (JSON, NULL when
unknown), so a cached unit is brought up to date by recomputing only those patients.

Revision ID: 0012
Revises: 0011
"""
import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unit_changes",
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("patients", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("unit_id", "version"),
    )
    with op.batch_alter_table("unit_changes", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unit_changes_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("unit_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unit_changes_created_at"))
    op.drop_table("unit_changes")
