"""pdl index

The PDL log's once-per-session lookup by (session_key, patient_pnr), replacing the index on session_key
alone (the new one serves those queries too); and a unique index on prev_hash, so the hash chain cannot
fork: at most one record can follow any record, whatever writes to the table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 16:22:47.023989
"""
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('pdl_records', schema=None) as batch_op:
        batch_op.create_index('ix_pdl_session_patient', ['session_key', 'patient_pnr'], unique=False)
        batch_op.drop_index('ix_pdl_session')
        batch_op.create_index('ux_pdl_prev_hash', ['prev_hash'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('pdl_records', schema=None) as batch_op:
        batch_op.drop_index('ux_pdl_prev_hash')
        batch_op.create_index('ix_pdl_session', ['session_key'], unique=False)
        batch_op.drop_index('ix_pdl_session_patient')
