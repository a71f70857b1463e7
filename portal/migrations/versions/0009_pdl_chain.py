"""the PDL log: a keyed chain, and UPDATE and DELETE refused on PostgreSQL

`pdl_records.chain_version` says how a record's hash was made: the records already stored are 1 (sha256
without a key) and are checked that way; the app writes 2 (HMAC-SHA256 with PDL_CHAIN_KEY) from now on.

On PostgreSQL a trigger refuses every UPDATE and DELETE on pdl_records, whoever runs it (a role that owns
the table can still drop the trigger: give the app a role that only inserts and selects, README "PDL
audit log"). TRUNCATE is left to privileges: the app's role has none, and the test suite empties its tables
with it.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

APPEND_ONLY_FUNCTION = """
CREATE FUNCTION pdl_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'pdl_records is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'The PDL audit log can only be added to (portal pdl-verify checks it).';
END
$$
"""

APPEND_ONLY_TRIGGER = """
CREATE TRIGGER pdl_records_append_only BEFORE UPDATE OR DELETE ON pdl_records
FOR EACH STATEMENT EXECUTE FUNCTION pdl_records_append_only()
"""


def upgrade() -> None:
    # the existing records are the old format: the default fills them in, then goes (the app always says)
    with op.batch_alter_table("pdl_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain_version", sa.Integer(), nullable=False, server_default="1"))
    with op.batch_alter_table("pdl_records", schema=None) as batch_op:
        batch_op.alter_column("chain_version", server_default=None)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(APPEND_ONLY_FUNCTION)
        op.execute(APPEND_ONLY_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS pdl_records_append_only ON pdl_records")
        op.execute("DROP FUNCTION IF EXISTS pdl_records_append_only()")
    # records of format 2 stay in the table but can no longer be told apart: verify them before going back
    with op.batch_alter_table("pdl_records", schema=None) as batch_op:
        batch_op.drop_column("chain_version")
