"""engine data: the sick-leave engine's answers, compact, beside each certificate

Revision ID: 0005
Revises: 0004
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("engine_data", sa.Text(), nullable=True))
    # backfill the certificates already stored (the sick-leave types), in batches
    from portal.domain import certificate_types as ct

    registry = ct.load_registry()
    codes = registry.sick_leave_codes()
    conn = op.get_bind()
    certificates = sa.table("certificates", sa.column("id", sa.String), sa.column("type_code", sa.String),
                            sa.column("content", sa.JSON), sa.column("engine_data", sa.Text))
    last = ""
    while True:
        rows = conn.execute(sa.select(certificates.c.id, certificates.c.type_code, certificates.c.content)
                            .where(certificates.c.type_code.in_(codes), certificates.c.id > last)
                            .order_by(certificates.c.id).limit(5000)).all()
        if not rows:
            break
        updates = [{"cid": r.id,
                    "data": ct.engine_data(registry[r.type_code],
                                           r.content if isinstance(r.content, dict) else json.loads(r.content))}
                   for r in rows]
        conn.execute(sa.update(certificates).where(certificates.c.id == sa.bindparam("cid"))
                     .values(engine_data=sa.bindparam("data")), updates)
        last = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_column("engine_data")
