"""The PDL audit log on SQLite and PostgreSQL: once per login session, the hash chain, tampering found,
concurrent appends that never fork the chain, and `portal pdl-verify`."""
from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from conftest import NOW
from portal import db
from portal.domain import pdl
from portal.models import PdlRecord
from portal.pdl_cli import pdl_verify_command
from portal.repository import pdl as store

USER = {"user_hsa_id": "TSTNMT2321000156-L1", "user_title": "Läkare", "user_unit_id": "TSTNMT2321000156-U1",
        "user_unit_name": "Vårdcentralen Demo", "user_provider_id": "TSTNMT2321000156-VG",
        "user_provider_name": "Region Demo"}
PATIENTS = ["191212121212", "198503149828", "197001012392"]
SESSION_A, SESSION_B = "a" * 64, "b" * 64


def patients(n: int, first: int = 0) -> list[tuple[str, str]]:
    """n made-up personnummer-shaped strings with the unit that owns their data."""
    return [(f"19{700101 + i:06d}{i % 10000:04d}", "TSTNMT2321000156-U1") for i in range(first, first + n)]


def entries(pnrs=PATIENTS, activity=pdl.LASA, resource=pdl.SJUKFALL, user=USER) -> list[pdl.PdlEntry]:
    return pdl.entries_for(user, [(p, "TSTNMT2321000156-U1") for p in pnrs], activity, resource)


def count(session) -> int:
    return session.scalar(select(func.count()).select_from(PdlRecord))


def ids(session) -> list[int]:
    return list(session.scalars(select(PdlRecord.id).order_by(PdlRecord.id)))


def test_the_hash_covers_every_column_but_id_prev_hash_and_hash():
    assert set(pdl.HASHED_FIELDS) == set(PdlRecord.__table__.columns.keys()) - {"id", "prev_hash", "hash"}


def test_log_writes_one_complete_record_per_patient(session):
    assert store.log(session, entries(), session_key=SESSION_A, now=NOW) == 3
    rows = store.records_for(session, user_hsa_id=USER["user_hsa_id"])
    assert [r.patient_pnr for r in rows] == PATIENTS
    r = rows[0]
    assert (r.at, r.activity, r.purpose, r.resource_type, r.data_unit_id, r.session_key) == (
        NOW, "Läsa", "Vård och behandling", "Sjukfall", "TSTNMT2321000156-U1", SESSION_A)
    assert (r.user_hsa_id, r.user_title, r.user_unit_id, r.user_unit_name, r.user_provider_id,
            r.user_provider_name) == tuple(USER.values())
    assert r.prev_hash == pdl.GENESIS and rows[1].prev_hash == r.hash and rows[2].prev_hash == rows[1].hash
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


def test_a_large_page_is_logged_and_checked_in_chunks(session):
    """More patients than one dedupe lookup and more records than one verify batch."""
    many = pdl.entries_for(USER, patients(store.BATCH + 150), pdl.LASA, pdl.SJUKFALL)
    assert store.log(session, many[:store.CHUNK + 10], session_key=SESSION_A, now=NOW) == store.CHUNK + 10
    assert store.log(session, many, session_key=SESSION_A, now=NOW) == store.BATCH + 150 - store.CHUNK - 10
    assert count(session) == store.BATCH + 150
    check = store.check_chain(session)
    assert (check.problems, check.count) == ([], store.BATCH + 150)


@pytest.mark.parametrize("column, value", [("patient_pnr", "'191111111116'"), ("at", "'2026-11-22 09:00:00'"),
                                           ("activity", "'Utskrift'"), ("session_key", "'x'")])
def test_a_changed_record_is_reported(session, column, value):
    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    middle = ids(session)[1]
    session.execute(text(f"UPDATE pdl_records SET {column} = {value} WHERE id = :id"), {"id": middle})
    session.commit()
    assert store.verify_chain(session) == [f"post {middle}: hashen stämmer inte med innehållet – posten har ändrats"]


def test_a_removed_record_is_reported(session):
    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    first, middle, last = ids(session)
    session.execute(text("DELETE FROM pdl_records WHERE id = :id"), {"id": middle})
    session.commit()
    assert store.verify_chain(session) == [
        f"post {last}: prev_hash är inte hashen för post {first} – en post har tagits bort eller lagts in"]


def test_the_database_refuses_a_second_record_after_the_same_record(session):
    """The unique index on prev_hash: a fork is refused, whoever writes."""
    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    forged = pdl.chain(entries(["191111111116"]), prev_hash=pdl.GENESIS, at=NOW, session_key=SESSION_A)[0]
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


def test_pdl_verify_says_whole_or_lists_the_problems_without_personnummer(app, session):
    runner = app.test_cli_runner()
    empty = runner.invoke(pdl_verify_command, catch_exceptions=False)
    assert (empty.exit_code, empty.output.strip()) == (0, "PDL-loggen är hel: 0 poster")

    store.log(session, entries(), session_key=SESSION_A, now=NOW)
    whole = runner.invoke(pdl_verify_command, catch_exceptions=False)
    assert (whole.exit_code, whole.output.strip()) == (0, "PDL-loggen är hel: 3 poster")

    first, middle, last = ids(session)
    session.execute(text("UPDATE pdl_records SET patient_pnr = '191111111116' WHERE id = :id"), {"id": first})
    session.execute(text("DELETE FROM pdl_records WHERE id = :id"), {"id": middle})
    session.commit()
    broken = runner.invoke(pdl_verify_command, catch_exceptions=False)
    assert broken.exit_code == 1
    lines = [line.strip() for line in broken.output.splitlines()]
    assert lines == ["PDL-loggen är inte hel: 2 problem i 2 poster",
                     f"post {first}: hashen stämmer inte med innehållet – posten har ändrats",
                     f"post {last}: prev_hash är inte hashen för post {first} – en post har tagits bort eller lagts in"]
    assert not re.search(r"\d{10}", broken.output)
