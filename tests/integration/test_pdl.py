"""The PDL audit log on SQLite and PostgreSQL: once per login session, the keyed hash chain, checkpoints,
every kind of tampering found and named by `portal pdl-verify`, concurrent appends that never fork the chain,
and the table refusing UPDATE and DELETE on PostgreSQL."""
from __future__ import annotations

import json
import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from conftest import NOW
from portal import db
from portal.domain import pdl
from portal.models import PdlRecord
from portal.pdl_checkpoints import CheckpointFile, PdlKeysMissing
from portal.pdl_cli import pdl_checkpoint_command, pdl_verify_command
from portal.repository import pdl as store

USER = {"user_hsa_id": "TSTNMT2321000156-L1", "user_title": "Läkare", "user_unit_id": "TSTNMT2321000156-U1",
        "user_unit_name": "Vårdcentralen Demo", "user_provider_id": "TSTNMT2321000156-VG",
        "user_provider_name": "Region Demo"}
PATIENTS = ["191212121212", "198503149828", "197001012392"]
SESSION_A, SESSION_B = "a" * 64, "b" * 64
CHAIN_KEY = b"test-pdl-chain-key"  # conftest's make_test_app
WHEN = "2026-11-23 10:00:00"  # NOW as the problem lines show it


def patients(n: int, first: int = 0) -> list[tuple[str, str]]:
    """n made-up personnummer-shaped strings with the unit that owns their data."""
    return [(f"19{700101 + i:06d}{i % 10000:04d}", "TSTNMT2321000156-U1") for i in range(first, first + n)]


def entries(pnrs=PATIENTS, activity=pdl.LASA, resource=pdl.SJUKFALL, user=USER) -> list[pdl.PdlEntry]:
    return pdl.entries_for(user, [(p, "TSTNMT2321000156-U1") for p in pnrs], activity, resource)


def count(session) -> int:
    return session.scalar(select(func.count()).select_from(PdlRecord))


def ids(session) -> list[int]:
    return list(session.scalars(select(PdlRecord.id).order_by(PdlRecord.id)))


def rows(session) -> list[dict]:
    return [dict(r._mapping) for r in session.execute(select(PdlRecord.__table__).order_by(PdlRecord.id))]


@pytest.fixture(autouse=True)
def checkpoint_file(request) -> Path | None:
    """The test database's checkpoint file, removed before and after (conftest gives each database URL its own
    path, but the same URL serves many tests)."""
    if "app" not in request.fixturenames:
        yield None
        return
    path = Path(request.getfixturevalue("app").config["PDL_CHECKPOINT_FILE"])
    path.unlink(missing_ok=True)
    yield path
    path.unlink(missing_ok=True)


def tamper(session, *steps) -> None:
    """What someone who can write the table (but has no key) does: SQL text with its parameters, or a callable
    given the session; on PostgreSQL with the append-only trigger switched off, as the table's owner can."""
    pg = session.get_bind().dialect.name == "postgresql"
    if pg:
        session.execute(text("ALTER TABLE pdl_records DISABLE TRIGGER pdl_records_append_only"))
    for step in steps:
        if callable(step):
            step(session)
        else:
            sql, params = step if isinstance(step, tuple) else (step, {})
            session.execute(text(sql), params)
    if pg:
        session.execute(text("ALTER TABLE pdl_records ENABLE TRIGGER pdl_records_append_only"))
    session.commit()


def verify(app) -> tuple[int, list[str]]:
    result = app.test_cli_runner().invoke(pdl_verify_command, catch_exceptions=False)
    shown = result.output.replace(app.config["PDL_CHECKPOINT_FILE"], "")
    assert not re.search(r"\d{10}", shown)  # never a personnummer
    return result.exit_code, [line.strip() for line in result.output.splitlines()]


def make_checkpoint(app) -> str:
    result = app.test_cli_runner().invoke(pdl_checkpoint_command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output.strip()


def broken(n: int, records: int) -> str:
    return f"PDL-loggen är inte hel: {n} problem i {records} poster"


def test_the_hash_covers_every_column_but_id_chain_version_prev_hash_and_hash():
    assert set(pdl.HASHED_FIELDS) == set(PdlRecord.__table__.columns.keys()) - {"id", "chain_version", "prev_hash",
                                                                                  "hash"}


def test_log_writes_one_complete_keyed_record_per_patient(session):
    assert store.log(session, entries(), session_key=SESSION_A, now=NOW) == 3
    found = store.records_for(session, user_hsa_id=USER["user_hsa_id"])
    assert [r.patient_pnr for r in found] == PATIENTS
    r = found[0]
    assert (r.at, r.activity, r.purpose, r.resource_type, r.data_unit_id, r.session_key) == (
        NOW, "Läsa", "Vård och behandling", "Sjukfall", "TSTNMT2321000156-U1", SESSION_A)
    assert (r.user_hsa_id, r.user_title, r.user_unit_id, r.user_unit_name, r.user_provider_id,
            r.user_provider_name) == tuple(USER.values())
    assert r.prev_hash == pdl.GENESIS and found[1].prev_hash == r.hash and found[2].prev_hash == found[1].hash
    assert {x.chain_version for x in found} == {pdl.V2_HMAC}
    assert all(r["hash"] == pdl.keyed_hash(CHAIN_KEY, r["prev_hash"], r) for r in rows(session))
    assert [x.patient_pnr for x in store.records_for(session, patient_pnr=PATIENTS[1])] == [PATIENTS[1]]
    assert store.verify_chain(session) == []


def test_the_same_is_logged_once_per_login_session(session, clock):
    assert store.log(session, entries(), session_key=SESSION_A, now=NOW) == 3
    clock.advance(minutes=5)
    assert store.log(session, entries(), session_key=SESSION_A, now=clock.now()) == 0
    # one patient more on the next page view: only that one is new
    assert store.log(session, entries(PATIENTS + ["200002292380"]), session_key=SESSION_A, now=clock.now()) == 1
    assert store.log(session, entries(), session_key=SESSION_B, now=clock.now()) == 3  # a new login
    assert store.log(session, entries(activity=pdl.UTSKRIFT), session_key=SESSION_A, now=clock.now()) == 3
    assert store.log(session, entries(resource=pdl.INTYG), session_key=SESSION_A, now=clock.now()) == 3
    other_unit = {**USER, "user_unit_id": "TSTNMT2321000156-U2", "user_unit_name": "Mottagning 2"}
    assert store.log(session, entries(user=other_unit), session_key=SESSION_A, now=clock.now()) == 3
    assert store.log(session, entries() + entries(), session_key="c" * 64, now=clock.now()) == 3
    assert store.log(session, [], session_key=SESSION_A, now=clock.now()) == 0
    assert count(session) == 19
    assert store.verify_chain(session) == []


def test_a_large_page_is_logged_and_checked_in_chunks(app, session):
    """More patients than one dedupe lookup and more records than one verify batch (and than one checkpoint
    interval: the app writes checkpoints itself)."""
    many = pdl.entries_for(USER, patients(store.BATCH + 150), pdl.LASA, pdl.SJUKFALL)
    assert store.log(session, many[:store.CHUNK + 10], session_key=SESSION_A, now=NOW) == store.CHUNK + 10
    assert store.log(session, many, session_key=SESSION_A, now=NOW) == store.BATCH + 150 - store.CHUNK - 10
    assert count(session) == store.BATCH + 150
    check = store.check_chain(session)
    assert (check.problems, check.count) == ([], store.BATCH + 150)
    assert verify(app) == (0, [f"PDL-loggen är hel: {store.BATCH + 150} poster",
                               f"(senaste kontrollpunkt: post {ids(session)[-1]} ({store.BATCH + 150} poster), {WHEN}; "
                               "0 poster efter den)"])


# --- pdl-verify: whole, and each kind of tampering named --------------------------------------------------------

def test_pdl_verify_says_whole_and_what_it_compared(app, session, checkpoint_file):
    code, lines = verify(app)
    assert code == 0 and lines[0] == "PDL-loggen är hel: 0 poster"
    assert lines[1].startswith("(varning: ingen kontrollpunkt (filen ") and "finns inte" in lines[1]
    assert "portal pdl-checkpoint" in lines[1]

    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    last = ids(session)[-1]
    assert make_checkpoint(app) == f"Kontrollpunkt skriven i {checkpoint_file}: post {last}, 3 poster, {WHEN}"
    assert verify(app) == (0, ["PDL-loggen är hel: 3 poster",
                               f"(senaste kontrollpunkt: post {last} (3 poster), {WHEN}; 0 poster efter den)"])
    store.log(session, entries(["200002292380"]), session_key=SESSION_A, now=NOW)
    assert verify(app) == (0, ["PDL-loggen är hel: 4 poster",
                               f"(senaste kontrollpunkt: post {last} (3 poster), {WHEN}; 1 post efter den)"])
    line = json.loads(checkpoint_file.read_text().splitlines()[0])
    assert (line["last_id"], line["count"], line["at"]) == (last, 3, "2026-11-23T10:00:00.000000") and line["mac"]


@pytest.mark.parametrize("column, value", [("patient_pnr", "'191111111116'"), ("at", "'2026-11-22 09:00:00'"),
                                           ("activity", "'Utskrift'"), ("session_key", "'x'"),
                                           ("user_hsa_id", "'TSTNMT2321000156-L9'")])
def test_a_changed_record_is_reported(app, session, column, value):
    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    middle = ids(session)[1]
    tamper(session, (f"UPDATE pdl_records SET {column} = {value} WHERE id = :id", {"id": middle}))
    assert store.verify_chain(session) == [f"post {middle}: hashen stämmer inte med innehållet – posten har ändrats"]
    assert verify(app)[0] == 1
    assert verify(app)[1][:2] == [broken(1, 3),
                                  f"post {middle}: hashen stämmer inte med innehållet – posten har ändrats"]


def test_a_removed_record_is_reported(app, session):
    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    first, middle, last = ids(session)
    tamper(session, ("DELETE FROM pdl_records WHERE id = :id", {"id": middle}))
    code, lines = verify(app)
    assert (code, lines[:2]) == (1, [
        broken(1, 2),
        f"post {last}: prev_hash är inte hashen för post {first} – poster mellan post {first} och post {last} har "
        "tagits bort"])


def test_an_inserted_record_is_reported(app, session):
    """A forged record put between two (the ids are not hashed: the later records are moved up to make room)."""
    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    first, middle, last = ids(session)
    forged = pdl.chain(entries(["191111111116"], user={**USER, "user_hsa_id": "TSTNMT2321000156-L9"}),
                       prev_hash="f" * 64, at=NOW, session_key=SESSION_B, key=b"a guessed key")[0]
    tamper(session, ("UPDATE pdl_records SET id = id + 100 WHERE id > :first", {"first": first}),
           lambda s: s.execute(insert(PdlRecord.__table__).values(id=first + 1, **forged)))
    code, lines = verify(app)
    assert (code, lines[:2]) == (1, [
        broken(1, 4),
        f"post {first + 1}: hör inte till kedjan (post {middle + 100} följer på post {first}) – posten har lagts in"])


def test_the_newest_records_removed_are_reported(app, session):
    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    store.log(session, entries(["200002292380"]), session_key=SESSION_A, now=NOW)
    make_checkpoint(app)
    first, second, third, fourth = ids(session)
    tamper(session, ("DELETE FROM pdl_records WHERE id > :id", {"id": second}))
    assert store.verify_chain(session) == []  # the chain alone cannot tell
    assert verify(app) == (1, [
        broken(1, 2),
        f"de senaste posterna har tagits bort: kontrollpunkten från {WHEN} intygar 4 poster till och med post "
        f"{fourth}, men loggen slutar med post {second} (2 poster)",
        f"(senaste kontrollpunkt: post {fourth} (4 poster), {WHEN}; 0 poster efter den)"])


def test_all_records_removed_are_reported(app, session):
    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    make_checkpoint(app)
    last = ids(session)[-1]
    tamper(session, "DELETE FROM pdl_records")
    assert store.verify_chain(session) == []
    code, lines = verify(app)
    assert (code, lines[:2]) == (1, [
        broken(1, 0),
        f"alla poster har tagits bort: loggen är tom, men kontrollpunkten från {WHEN} intygar 3 poster till och med "
        f"post {last}"])


def _rewrite_unkeyed(session, start: int, version: int) -> None:
    """Change the record at index `start` and recompute every hash from it on, the old unkeyed way."""
    records = rows(session)
    records[start]["activity"] = pdl.UTSKRIFT
    prev = records[start - 1]["hash"] if start else pdl.GENESIS
    for r in records[start:]:
        r.update(chain_version=version, prev_hash=prev)
        r["hash"] = prev = pdl.record_hash(prev, r)
    # new hashes everywhere first, so that the unique indexes never see two records with the same one
    steps = [("UPDATE pdl_records SET hash = :tmp, prev_hash = :tmp2 WHERE id = :id",
              {"tmp": f"{r['id']:064d}", "tmp2": f"{r['id']:063d}x", "id": r["id"]}) for r in records[start:]]
    steps += [("UPDATE pdl_records SET activity = :activity, chain_version = :chain_version, prev_hash = :prev_hash, "
               "hash = :hash WHERE id = :id", r) for r in records[start:]]
    tamper(session, *steps)


@pytest.mark.parametrize("version", [pdl.V2_HMAC, pdl.V1_SHA256])
def test_a_rewrite_with_recomputed_unkeyed_hashes_is_reported(app, session, version):
    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    first, middle, last = ids(session)
    _rewrite_unkeyed(session, 1, version)
    why = ("hashen är beräknad utan nyckeln" if version == pdl.V2_HMAC
           else f"i det gamla formatet utan nyckel efter den nyckelade posten {first}")
    code, lines = verify(app)
    assert (code, lines[:3]) == (1, [broken(2, 3), f"post {middle}: {why} – posten har skrivits om",
                                     f"post {last}: {why} – posten har skrivits om"])


def test_a_whole_log_rewritten_in_the_old_format_is_caught_by_its_checkpoint(app, session):
    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    make_checkpoint(app)
    first, middle, last = ids(session)
    _rewrite_unkeyed(session, 0, pdl.V1_SHA256)
    assert store.verify_chain(session) == []  # a chain of old-format records, consistent in itself
    code, lines = verify(app)
    assert (code, lines[:2]) == (1, [
        broken(1, 3),
        f"post {last}: hashen är inte den som kontrollpunkten från {WHEN} intygar – posten har ändrats eller skrivits "
        "om"])
    assert "(3 poster i det gamla formatet (sha256 utan nyckel, skrivna före nyckeln), " \
           f"post {first}–{last}: kontrollerade på det gamla sättet)" in lines


def test_a_changed_checkpoint_file_is_reported(app, session, checkpoint_file):
    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    make_checkpoint(app)
    line = checkpoint_file.read_text()
    checkpoint_file.write_text(line.replace('"count":3', '"count":2') + "not a checkpoint\n")
    code, lines = verify(app)
    assert code == 1 and lines[:3] == [
        broken(2, 3),
        "kontrollpunktsfilen rad 1: signaturen stämmer inte – raden har ändrats eller är inte gjord med nyckeln",
        "kontrollpunktsfilen rad 2: går inte att läsa"]


def test_postgresql_refuses_update_and_delete(app, session):
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("the append-only trigger is PostgreSQL's")
    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    before = rows(session)
    for sql in ("UPDATE pdl_records SET activity = 'Utskrift'", "DELETE FROM pdl_records WHERE id > 0",
                "UPDATE pdl_records SET id = id WHERE 1 = 0"):
        with pytest.raises(DBAPIError, match="pdl_records is append-only"):
            session.execute(text(sql))
        session.rollback()
    assert rows(session) == before
    store.log(session, entries(["200002292380"]), session_key=SESSION_A, now=NOW)  # appending still works
    assert count(session) == 4 and store.verify_chain(session) == []


# --- checkpoints the app writes, old records, keys ----------------------------------------------------------------

def test_the_app_writes_a_checkpoint_every_n_records_once_committed(app, session, checkpoint_file):
    app.config["PDL_CHECKPOINT_EVERY"] = 5
    batches = [patients(3, 0), patients(3, 3), patients(3, 6), patients(2, 9)]
    for batch in batches:
        store.log(session, pdl.entries_for(USER, batch, pdl.LASA, pdl.SJUKFALL), session_key=SESSION_A, now=NOW)
    all_ids = ids(session)
    written = [(c.last_id, c.count) for c in CheckpointFile(checkpoint_file).read(b"test-pdl-checkpoint-key")[0]]
    # after the batches that take the ids past 5 and 10 (on PostgreSQL too, where ids may have gaps)
    expected = [(all_ids[i - 1], i) for i in (6, 11)] if all_ids == list(range(1, 12)) else written
    assert written == expected and len(written) == 2
    # an append that is rolled back writes no checkpoint, even when it would have crossed one
    store.append(session, pdl.entries_for(USER, patients(5, 20), pdl.LASA, pdl.SJUKFALL), session_key=SESSION_A,
                 now=NOW)
    session.rollback()
    assert len(checkpoint_file.read_text().splitlines()) == 2
    # a savepoint released is not a commit either
    with session.begin_nested():
        store.append(session, pdl.entries_for(USER, patients(5, 30), pdl.LASA, pdl.SJUKFALL),
                     session_key=SESSION_A, now=NOW)
    assert len(checkpoint_file.read_text().splitlines()) == 2
    session.commit()
    assert len(checkpoint_file.read_text().splitlines()) == 3
    assert verify(app)[0] == 0


def test_a_checkpoint_that_cannot_be_written_does_not_undo_the_records(app, session, caplog):
    app.config.update(PDL_CHECKPOINT_EVERY=1, PDL_CHECKPOINT_FILE="/proc/no-such-folder/pdl.log")
    assert store.log(session, entries(), session_key=SESSION_A, now=NOW) == 3
    assert count(session) == 3
    assert "checkpoint after record" in caplog.text and "191212121212" not in caplog.text


def test_old_unkeyed_records_are_verified_the_old_way_and_continued(app, session):
    old = pdl.chain(entries(), prev_hash=pdl.GENESIS, at=NOW - timedelta(days=30), session_key=SESSION_B, key=None)
    session.execute(insert(PdlRecord.__table__), old)
    session.commit()
    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    found = rows(session)
    assert [r["chain_version"] for r in found] == [1, 1, 1, 2, 2, 2]
    assert found[3]["prev_hash"] == found[2]["hash"]  # the keyed chain continues the old one
    make_checkpoint(app)
    code, lines = verify(app)
    assert (code, lines[:2]) == (0, [
        "PDL-loggen är hel: 6 poster",
        f"(3 poster i det gamla formatet (sha256 utan nyckel, skrivna före nyckeln), post {found[0]['id']}–"
        f"{found[2]['id']}: kontrollerade på det gamla sättet)"])


def test_nothing_is_logged_without_the_keys(app, db_url):
    """A session on an engine no app knows (outside an app context) has no keys: it refuses rather than writing
    an unkeyed record."""
    engine = create_engine(db_url)
    try:
        with Session(engine) as other, pytest.raises(PdlKeysMissing):
            store.log(other, entries(), session_key=SESSION_A, now=NOW)
    finally:
        engine.dispose()
    app.config["PDL_CHAIN_KEY"] = None
    with db.new_session(app) as s, pytest.raises(PdlKeysMissing, match="PDL_CHAIN_KEY"):
        store.log(s, entries(), session_key=SESSION_A, now=NOW)
    code = app.test_cli_runner().invoke(pdl_verify_command).exit_code
    assert code == 2


def test_a_copied_database_without_a_checkpoint_file_says_so(demo, session, checkpoint_file):
    """The test suite copies databases from a template: their records have no checkpoint file."""
    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    assert not checkpoint_file.exists()
    code, lines = verify(demo)
    assert code == 0 and lines[0] == "PDL-loggen är hel: 3 poster"
    assert lines[1].startswith("(varning: ingen kontrollpunkt") and "finns inte" in lines[1]


def test_the_database_refuses_a_second_record_after_the_same_record(session):
    """The unique index on prev_hash: a fork is refused, whoever writes."""
    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    forged = pdl.chain(entries(["191111111116"]), prev_hash=pdl.GENESIS, at=NOW, session_key=SESSION_A,
                       key=CHAIN_KEY)[0]
    session.add(PdlRecord(**forged))
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()
    assert count(session) == 3


def _race(app, work, threads: int = 2) -> list:
    """Run work(session, n) in `threads` threads at once, each with a session of its own; their results."""
    barrier = threading.Barrier(threads)
    results: list = []
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            with db.new_session(app) as s:
                barrier.wait()
                results.append(work(s, n))
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    started = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for t in started:
        t.start()
    for t in started:
        t.join(60)
    assert errors == [] and len(results) == threads, errors
    return results


def test_two_sessions_logging_at_once_never_fork_the_chain(app, session):
    store.log(session, entries(), session_key="0" * 64, now=NOW)  # the race starts after an existing record

    def work(s, n):
        written = 0
        for page in range(10):  # ten page views each, to make the two meet
            batch = pdl.entries_for(USER, patients(5, first=n * 1000 + page * 5), pdl.LASA, pdl.SJUKFALL)
            written += store.log(s, batch, session_key=f"{n}" * 64, now=NOW + timedelta(seconds=page))
        return written

    assert _race(app, work) == [50, 50]
    assert count(session) == 103
    prev_hashes = list(session.scalars(select(PdlRecord.prev_hash)))
    assert len(set(prev_hashes)) == len(prev_hashes)  # exactly one record follows each record
    assert store.verify_chain(session) == []


def test_the_same_login_session_logging_twice_at_once_writes_once(app, session):
    results = _race(app, lambda s, n: store.log(s, entries(), session_key=SESSION_A, now=NOW))
    assert sorted(results) == [0, 3]
    assert count(session) == 3 and store.verify_chain(session) == []
