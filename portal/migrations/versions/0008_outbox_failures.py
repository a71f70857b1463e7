"""outbox failures (permanent, refused, maybe received) and idempotency keys reused by a retry

- `sends.failure` (REJECTED | REFUSED | GAVE_UP) says how a FAILED send ended, `sends.maybe_received` that an
  attempt timed out or got no clear answer (the recipient may have it);
- `sends.idempotency_key` is no longer unique (a retry of a send that may have arrived carries its key), only
  indexed; the partial unique index ux_sends_live still allows one live send per certificate and recipient.

Sends that failed before this revision: REFUSED when their last error is a refusal code, else GAVE_UP, and
maybe received (nothing recorded which of their attempts timed out: the citizen is told what is known, and a
retry carries the key).

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SEND_LIVE = "kind = 'CERTIFICATE' AND state IN ('PENDING', 'DELIVERED')"
REFUSAL_CODES = ("NO_RECIPIENT", "REVOKED", "REPLACED", "ALREADY_SENT", "VALIDATION_PERSON")
# 0001 created the key's unique constraint without a name: PostgreSQL named it itself; on SQLite the batch
# copy names the reflected constraint with this convention so that it can be dropped
UNIQUE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    sqlite = _sqlite()
    if sqlite:
        # the batch copy of the table must not lose the partial index's WHERE: drop it, make it again below
        op.drop_index("ux_sends_live", table_name="sends")
    else:
        op.drop_constraint("sends_idempotency_key_key", "sends", type_="unique")
    with op.batch_alter_table("sends", naming_convention=UNIQUE_NAMES) as batch_op:
        if sqlite:
            batch_op.drop_constraint("uq_sends_idempotency_key", type_="unique")
        batch_op.add_column(sa.Column("failure", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("maybe_received", sa.Boolean(), nullable=False,
                                      server_default=sa.text("false")))
        batch_op.create_index("ix_sends_idempotency_key", ["idempotency_key"], unique=False)
    if sqlite:
        op.create_index("ux_sends_live", "sends", ["certificate_id", "recipient", "kind"], unique=True,
                        sqlite_where=sa.text(SEND_LIVE))
    sends = sa.table("sends", sa.column("state", sa.String), sa.column("last_error", sa.String),
                     sa.column("failure", sa.String), sa.column("maybe_received", sa.Boolean))
    op.execute(sends.update().where(sends.c.state == "FAILED", sends.c.last_error.in_(REFUSAL_CODES))
               .values(failure="REFUSED"))
    op.execute(sends.update().where(sends.c.state == "FAILED", sends.c.failure.is_(None))
               .values(failure="GAVE_UP", maybe_received=True))


def downgrade() -> None:
    """Back to unique keys: fails (and changes nothing) if a retry shares its key with the send it retried."""
    sqlite = _sqlite()
    if sqlite:
        op.drop_index("ux_sends_live", table_name="sends")
    with op.batch_alter_table("sends", naming_convention=UNIQUE_NAMES) as batch_op:
        batch_op.drop_index("ix_sends_idempotency_key")
        batch_op.drop_column("maybe_received")
        batch_op.drop_column("failure")
        if sqlite:
            batch_op.create_unique_constraint("uq_sends_idempotency_key", ["idempotency_key"])
    if sqlite:
        op.create_index("ux_sends_live", "sends", ["certificate_id", "recipient", "kind"], unique=True,
                        sqlite_where=sa.text(SEND_LIVE))
    else:
        op.create_unique_constraint("sends_idempotency_key_key", "sends", ["idempotency_key"])
