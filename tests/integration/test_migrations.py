"""The Alembic migrations build exactly the schema the models describe."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from portal import db
from portal.models import Base


def test_migrations_match_the_models(app):
    engine = db.get_engine(app)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_lists_are_indexed(app):
    from sqlalchemy import inspect

    inspector = inspect(db.get_engine(app))
    cert_indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("certificates")}
    assert cert_indexes["ix_certificates_patient_signed"] == ["patient_pnr", "signed_at"]
    assert cert_indexes["ix_certificates_unit_type_end"] == ["unit_id", "type_code", "sick_leave_end"]
    assert cert_indexes["ix_certificates_provider_patient"] == ["provider_id", "patient_pnr"]
