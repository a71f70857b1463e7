"""e-mail notices: a unit's address for notices when Försäkringskassan writes, and the mail outbox (issue 17)

unit_settings: one row per care unit that has settings of its own (set by a rehab coordinator): notice_email, the
address told when FK writes (NULL: none), and who changed it last and when.

mail_notices: the mail outbox. One row per notice to a unit (kind QUESTION, REMINDER or ANSWER, and how many
messages it covers), claimed by the delivery worker with a lease like `sends`; no patient data.

Revision ID: 0021
Revises: 0020
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "unit_settings",
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("notice_email", sa.String(length=254), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["care_units.hsa_id"]),
        sa.PrimaryKeyConstraint("unit_id"),
    )
    op.create_table(
        "mail_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.Column("failed_at", sa.DateTime(), nullable=True),
        sa.Column("failure", sa.String(length=20), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("sent_to", sa.String(length=254), nullable=True),
        sa.ForeignKeyConstraint(["unit_id"], ["care_units.hsa_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("mail_notices", schema=None) as batch_op:
        batch_op.create_index("ix_mail_notices_due", ["state", "next_attempt_at"], unique=False)
        batch_op.create_index("ix_mail_notices_unit", ["unit_id", "kind", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("mail_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_mail_notices_unit")
        batch_op.drop_index("ix_mail_notices_due")
    op.drop_table("mail_notices")
    op.drop_table("unit_settings")
