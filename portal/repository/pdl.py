"""The PDL audit log's store (table `pdl_records`): appending to the hash chain, checking it, reading it.

The rules (what a record holds, once per login session, the hash) are `domain.pdl`; here is how appends
stay a single chain when many requests log at once:

- every append takes one lock before it reads the chain's last hash and holds it until its commit:
  `pg_advisory_xact_lock(LOCK_KEY)` on PostgreSQL; on SQLite the database's write lock, taken by a
  statement that writes nothing (the driver only opens a transaction at the first write, and a write
  transaction started that way waits for the lock; the reads that follow then see the newest chain);
- the unique index `ux_pdl_prev_hash` makes a fork impossible even so: a second record after the same
  record is refused by the database rather than silently stored.

`session_key` identifies the login session: pass `AuthSession.sid_hash`, never the cookie's session id
itself (the log is read by support staff; the id is a bearer secret).
"""
from __future__ import annotations

from datetime import datetime
from typing import Iterator

from sqlalchemy import func, insert, select, text
from sqlalchemy.orm import Session

from ..db import one_of
from ..domain import pdl
from ..models import PdlRecord

LOCK_KEY = 0x50444C  # "PDL": the advisory lock id every append to the chain takes on PostgreSQL
CHUNK = 500  # personnummer per dedupe lookup
BATCH = 1000  # records per read when checking the chain

_COLUMNS = PdlRecord.__table__.c


def _lock_chain(session: Session) -> None:
    """Serialise appends until this transaction ends (see the module docstring)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(LOCK_KEY)))
    elif dialect == "sqlite":
        session.execute(text("UPDATE pdl_records SET id = id WHERE 1 = 0"))
    else:  # pragma: no cover - only the two supported databases
        raise NotImplementedError(f"no PDL chain lock for {dialect}")


def _already_logged(session: Session, session_key: str, pnrs: list[str]) -> set[tuple]:
    """The dedupe keys this login session has logged for these patients."""
    found: set[tuple] = set()
    for start in range(0, len(pnrs), CHUNK):
        rows = session.execute(
            select(_COLUMNS.user_hsa_id, _COLUMNS.user_unit_id, _COLUMNS.patient_pnr, _COLUMNS.activity,
                   _COLUMNS.resource_type, _COLUMNS.data_unit_id)
            .where(_COLUMNS.session_key == session_key,
                   one_of(session, _COLUMNS.patient_pnr, pnrs[start:start + CHUNK])))
        found.update(tuple(row) for row in rows)
    return found


def _last_hash(session: Session) -> str:
    last = session.scalar(select(_COLUMNS.hash).order_by(_COLUMNS.id.desc()).limit(1))
    return last if last is not None else pdl.GENESIS


def append(session: Session, entries: list[pdl.PdlEntry], *, session_key: str, now: datetime) -> int:
    """Append the entries this login session has not logged yet (same user, unit, patient, activity and
    resource) to the chain, all stamped `now` (naive local time), in the caller's transaction: the caller
    commits them together with what they record (a write and its "Skriva" record are one transaction).
    Returns how many were added."""
    if now.tzinfo is not None:
        raise ValueError("PDL times are naive local times")
    entries = pdl.unique(entries)
    if not entries:
        return 0
    _lock_chain(session)
    done = _already_logged(session, session_key, sorted({e.patient_pnr for e in entries}))
    new = [e for e in entries if e.dedupe_key() not in done]
    if new:
        records = pdl.chain(new, prev_hash=_last_hash(session), at=now, session_key=session_key)
        session.execute(insert(PdlRecord.__table__), records)
    return len(new)


def log(session: Session, entries: list[pdl.PdlEntry], *, session_key: str, now: datetime) -> int:
    """`append`, then commit. Returns how many were written.

    Commits whatever else the session holds, too. On an error nothing is written and the error is raised:
    a page that cannot log must not show patient data."""
    try:
        written = append(session, entries, session_key=session_key, now=now)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return written


def _stream(session: Session) -> Iterator[dict]:
    """Every record in id order, read BATCH at a time (keyset: the table can be large)."""
    after = None
    while True:
        query = select(PdlRecord.__table__).order_by(_COLUMNS.id).limit(BATCH)
        if after is not None:
            query = query.where(_COLUMNS.id > after)
        rows = [dict(row._mapping) for row in session.execute(query)]
        yield from rows
        if len(rows) < BATCH:
            return
        after = rows[-1]["id"]


def check_chain(session: Session) -> pdl.ChainCheck:
    """Walk the whole chain; the check holds the problems (one line each) and how many records it read."""
    check = pdl.ChainCheck()
    for record in _stream(session):
        check.add(record)
    return check


def verify_chain(session: Session) -> list[str]:
    """Problems with the stored chain (domain.pdl.verify): [] when every record is unchanged and none has
    been removed or inserted."""
    return check_chain(session).problems


def records_for(session: Session, *, patient_pnr: str | None = None,
                user_hsa_id: str | None = None) -> list[PdlRecord]:
    """The records about a patient and/or by a user, oldest first (log extracts, support, tests).
    At least one of the two must be given."""
    if patient_pnr is None and user_hsa_id is None:
        raise ValueError("records_for needs a patient_pnr or a user_hsa_id")
    query = select(PdlRecord).order_by(PdlRecord.id)
    if patient_pnr is not None:
        query = query.where(PdlRecord.patient_pnr == patient_pnr)
    if user_hsa_id is not None:
        query = query.where(PdlRecord.user_hsa_id == user_hsa_id)
    return list(session.scalars(query))
