"""the certificate store's API: who registered a certificate, and care's own sends

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("registered_by", sa.String(length=64), nullable=True))
    op.create_table(
        "care_sends",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("certificate_id", sa.String(length=64), nullable=False),
        sa.Column("recipient", sa.String(length=20), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["certificates.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("certificate_id", "recipient"),
    )
    op.create_index("ix_care_sends_certificate_id", "care_sends", ["certificate_id"])


def downgrade() -> None:
    op.drop_index("ix_care_sends_certificate_id", table_name="care_sends")
    op.drop_table("care_sends")
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_column("registered_by")
