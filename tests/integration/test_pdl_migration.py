"""Migration 0009 on a database that already holds PDL records (they become the old format, still verified), the
PostgreSQL trigger it adds and takes away, and the insert-only role the README describes."""
from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from conftest import NOW, DemoCopies, make_test_app
from portal import db
from portal.domain import pdl
from portal.pdl_cli import pdl_verify_command
from portal.repository import pdl as store

USER = {"user_hsa_id": "TSTNMT2321000156-L1", "user_title": "Läkare", "user_unit_id": "TSTNMT2321000156-U1",
        "user_unit_name": "Vårdcentralen Demo", "user_provider_id": "TSTNMT2321000156-VG",
        "user_provider_name": "Region Demo"}
PATIENTS = ["191212121212", "198503149828", "197001012392"]

# the README's SQL for the app's role (PostgreSQL), run as the tables' owner
APP_ROLE_SQL = """
CREATE ROLE {role} LOGIN;
GRANT CONNECT ON DATABASE {database} TO {role};
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON pdl_records FROM {role};
"""


def entries() -> list[pdl.PdlEntry]:
    return pdl.entries_for(USER, [(p, "TSTNMT2321000156-U1") for p in PATIENTS], pdl.LASA, pdl.SJUKFALL)


@pytest.fixture
def empty_url(db_url, tmp_path):
    """A database of its own, with no schema yet."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'migrate.sqlite'}"
        return
    DemoCopies._admin(db_url, "DROP DATABASE IF EXISTS pdl_migrate WITH (FORCE)")
    DemoCopies._admin(db_url, "CREATE DATABASE pdl_migrate")
    yield db_url.rsplit("/", 1)[0] + "/pdl_migrate"
    DemoCopies._admin(db_url, "DROP DATABASE IF EXISTS pdl_migrate WITH (FORCE)")


def migrate(url: str, to: str, down: bool = False) -> None:
    engine = db.make_engine(url)
    try:
        cfg = db.alembic_config(url)
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            (command.downgrade if down else command.upgrade)(cfg, to)
    finally:
        engine.dispose()


def has_trigger(conn) -> bool:
    return conn.execute(text("SELECT count(*) FROM pg_trigger WHERE tgname = 'pdl_records_append_only'")).scalar() == 1


def test_0009_keeps_the_old_records_as_the_old_format_and_the_app_continues_them(empty_url):
    migrate(empty_url, "0008")
    old = pdl.chain(entries(), prev_hash=pdl.GENESIS, at=NOW, session_key="o" * 64, key=None)
    columns = [*pdl.HASHED_FIELDS, "prev_hash", "hash"]
    engine = create_engine(empty_url)
    with engine.begin() as conn:
        for record in old:
            conn.execute(text(f"INSERT INTO pdl_records ({', '.join(columns)}) VALUES "
                              f"({', '.join(':' + c for c in columns)})"), {c: record[c] for c in columns})
    migrate(empty_url, "0009")
    with engine.connect() as conn:
        assert [r[0] for r in conn.execute(text("SELECT chain_version FROM pdl_records ORDER BY id"))] == [1, 1, 1]
        column = next(c for c in inspect(conn).get_columns("pdl_records") if c["name"] == "chain_version")
        assert column["nullable"] is False and column["default"] is None
        if engine.dialect.name == "postgresql":
            assert has_trigger(conn)
    engine.dispose()

    app = make_test_app(empty_url, AUTO_MIGRATE=True)  # the rest of the migrations, then the app
    try:
        Path(app.config["PDL_CHECKPOINT_FILE"]).unlink(missing_ok=True)
        with db.new_session(app) as s:
            store.log(s, pdl.entries_for(USER, [("200002292380", "TSTNMT2321000156-U1")], pdl.LASA, pdl.SJUKFALL),
                      session_key="n" * 64, now=NOW)
        result = app.test_cli_runner().invoke(pdl_verify_command, catch_exceptions=False)
        assert result.exit_code == 0
        assert result.output.splitlines()[:2] == [
            "PDL-loggen är hel: 4 poster",
            "  (3 poster i det gamla formatet (sha256 utan nyckel, skrivna före nyckeln), post 1–3: kontrollerade på "
            "det gamla sättet)"]
    finally:
        db.get_engine(app).dispose()
        Path(app.config["PDL_CHECKPOINT_FILE"]).unlink(missing_ok=True)


def test_0009_goes_down_again(empty_url):
    migrate(empty_url, "0009")
    migrate(empty_url, "0008", down=True)
    engine = create_engine(empty_url)
    try:
        with engine.connect() as conn:
            assert "chain_version" not in {c["name"] for c in inspect(conn).get_columns("pdl_records")}
            if engine.dialect.name == "postgresql":
                assert not has_trigger(conn)
    finally:
        engine.dispose()


def test_the_insert_only_role_can_log_and_read_but_not_change_the_log(db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("roles and privileges are PostgreSQL's")
    DemoCopies._admin(db_url, "DROP DATABASE IF EXISTS pdl_roles WITH (FORCE)")
    DemoCopies._admin(db_url, "DROP ROLE IF EXISTS portal_app_test")
    DemoCopies._admin(db_url, "CREATE DATABASE pdl_roles")
    owner_url = db_url.rsplit("/", 1)[0] + "/pdl_roles"
    app_url = owner_url.replace("postgres@", "portal_app_test@")
    owner = make_test_app(owner_url, AUTO_MIGRATE=True)
    app = None
    try:
        with db.get_engine(owner).begin() as conn:
            for statement in APP_ROLE_SQL.format(role="portal_app_test", database="pdl_roles").split(";"):
                if statement.strip():
                    conn.execute(text(statement))
        app = make_test_app(app_url, AUTO_MIGRATE=False)
        with db.new_session(app) as s:
            assert store.log(s, entries(), session_key="r" * 64, now=NOW) == 3
            assert len(store.records_for(s, user_hsa_id=USER["user_hsa_id"])) == 3
            for sql in ("UPDATE pdl_records SET activity = 'Utskrift'", "DELETE FROM pdl_records",
                        "TRUNCATE pdl_records", "ALTER TABLE pdl_records DISABLE TRIGGER pdl_records_append_only",
                        "DROP TRIGGER pdl_records_append_only ON pdl_records"):
                with pytest.raises(DBAPIError, match="permission denied|must be owner"):
                    s.execute(text(sql))
                s.rollback()
            assert store.verify_chain(s) == []
    finally:
        for one in (app, owner):
            if one is not None:
                db.get_engine(one).dispose()
                Path(one.config["PDL_CHECKPOINT_FILE"]).unlink(missing_ok=True)
        DemoCopies._admin(db_url, "DROP DATABASE IF EXISTS pdl_roles WITH (FORCE)")
        DemoCopies._admin(db_url, "DROP ROLE IF EXISTS portal_app_test")
