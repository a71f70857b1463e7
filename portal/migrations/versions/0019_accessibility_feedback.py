"""accessibility feedback: reports of accessibility problems from the accessibility statement's form

accessibility_feedback: one row per report (the problem in the reporter's words, the page, how to reach them and
the format they want, if given, the language they wrote in) with its receipt number (`reference`, unique).

Revision ID: 0019
Revises: 0018
"""
import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accessibility_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("problem", sa.Text(), nullable=False),
        sa.Column("page", sa.String(length=300), nullable=True),
        sa.Column("contact_email", sa.String(length=254), nullable=True),
        sa.Column("contact_phone", sa.String(length=40), nullable=True),
        sa.Column("format_wanted", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("reference"),
    )
    with op.batch_alter_table("accessibility_feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accessibility_feedback_received_at"), ["received_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("accessibility_feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accessibility_feedback_received_at"))
    op.drop_table("accessibility_feedback")
