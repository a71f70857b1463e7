"""sessions (absolute lifetime, staff rights re-checked) and a rate-limit store shared by every process

auth_sessions: an index on created_at (the absolute lifetime's purge) and rights_checked_at (staff rights
are checked again against the HSA directory every STAFF_RIGHTS_RECHECK_SECONDS). rate_limits: the rate
limiter's fixed-window counters, one row per limit and client.

Revision ID: 0010
Revises: 0009
"""
import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rights_checked_at", sa.DateTime(), nullable=True))
        batch_op.create_index(batch_op.f("ix_auth_sessions_created_at"), ["created_at"], unique=False)
    op.create_table(
        "rate_limits",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("rate_limits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_limits_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rate_limits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_limits_expires_at"))
    op.drop_table("rate_limits")
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_auth_sessions_created_at"))
        batch_op.drop_column("rights_checked_at")
