"""outbox and simulator

The outbox's rule "at most one live send of a certificate to a recipient" as a partial unique index
(the same WHERE on SQLite and PostgreSQL), and the recipient simulator's table.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 15:47:32.175610
"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

SEND_LIVE = "kind = 'CERTIFICATE' AND state IN ('PENDING', 'DELIVERED')"


def upgrade() -> None:
    op.create_table('sim_deliveries',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('recipient', sa.String(length=20), nullable=False),
    sa.Column('idempotency_key', sa.String(length=64), nullable=False),
    sa.Column('certificate_id', sa.String(length=64), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('idempotency_key')
    )
    with op.batch_alter_table('sim_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sim_deliveries_certificate_id'), ['certificate_id'], unique=False)

    with op.batch_alter_table('sends', schema=None) as batch_op:
        batch_op.create_index('ux_sends_live', ['certificate_id', 'recipient', 'kind'], unique=True,
                              sqlite_where=sa.text(SEND_LIVE), postgresql_where=sa.text(SEND_LIVE))


def downgrade() -> None:
    with op.batch_alter_table('sends', schema=None) as batch_op:
        batch_op.drop_index('ux_sends_live')

    with op.batch_alter_table('sim_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sim_deliveries_certificate_id'))

    op.drop_table('sim_deliveries')
