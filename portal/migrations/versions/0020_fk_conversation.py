"""FK conversation: the care unit's own questions to Försäkringskassan, FK's answers to them, and forwarding

messages.author_id: the staff member (HSA id) who wrote a CARE message (our question or our answer); NULL for
FK's messages and for messages stored before this revision. messages.author_name: for FK's messages, the
handläggare's name if FK gives one (never a patient's).

question_forwards: one row per forwarding of a question to a colleague on the unit (who forwarded, to whom,
when); the newest row of a question is where it is now.

Revision ID: 0020
Revises: 0019
"""
import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("author_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("author_name", sa.String(length=200), nullable=True))
    op.create_table(
        "question_forwards",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("unit_id", sa.String(length=64), nullable=False),
        sa.Column("to_staff_id", sa.String(length=64), nullable=False),
        sa.Column("by_staff_id", sa.String(length=64), nullable=False),
        sa.Column("forwarded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("question_forwards", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_question_forwards_message_id"), ["message_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_question_forwards_to_staff_id"), ["to_staff_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("question_forwards", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_question_forwards_to_staff_id"))
        batch_op.drop_index(batch_op.f("ix_question_forwards_message_id"))
    op.drop_table("question_forwards")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("author_name")
        batch_op.drop_column("author_id")
