"""background exports: Rehabstöd list exports too big to make within the request

export_jobs: one row per export built by the delivery worker (portal/rehab/exports.py,
portal/repository/export_jobs.py): what goes in the file (JSON), the owner (staff member, unit, login
session), the state and the builder's lease, and the finished file. Rows are deleted when they expire.

Revision ID: 0011
Revises: 0010
"""
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "export_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("list_name", sa.String(length=20), nullable=False),
        sa.Column("file_format", sa.String(length=4), nullable=False),
        sa.Column("language", sa.String(length=5), nullable=False),
        sa.Column("filename", sa.String(length=100), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("table_json", sa.Text(), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("content_size", sa.Integer(), nullable=True),
        sa.Column("staff_id", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("session_key", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("failure", sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("export_jobs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_export_jobs_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_export_jobs_session_key"), ["session_key"], unique=False)
        batch_op.create_index("ix_export_jobs_state_lease", ["state", "lease_until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("export_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_export_jobs_state_lease")
        batch_op.drop_index(batch_op.f("ix_export_jobs_session_key"))
        batch_op.drop_index(batch_op.f("ix_export_jobs_expires_at"))
    op.drop_table("export_jobs")
