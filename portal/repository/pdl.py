"""The PDL audit log's store (table `pdl_records`): appending to the keyed hash chain, its checkpoints,
checking it, reading it (log extracts).

The rules (what a record holds, once per login session, the hash, the check) are `domain.pdl`; the keys and
the checkpoint file `pdl_checkpoints`. Here is how appends stay a single chain when many requests log at once:

- every append takes one lock before it reads the chain's last hash and holds it until its commit:
  `pg_advisory_xact_lock(LOCK_KEY)` on PostgreSQL; on SQLite the database's write lock, taken by a
  statement that writes nothing (the driver only opens a transaction at the first write, and a write
  transaction started that way waits for the lock; the reads that follow then see the newest chain);
- the unique index `ux_pdl_prev_hash` makes a fork impossible even so: a second record after the same
  record is refused by the database rather than silently stored.

`session_key` identifies the login session: pass `AuthSession.sid_hash`, never the cookie's session id
itself (the log is read by support staff; the id is a bearer secret).

Every record is hashed with the app's PDL_CHAIN_KEY (`domain.pdl.V2_HMAC`). When an append takes the chain
past a multiple of PDL_CHECKPOINT_EVERY record ids, the new head (id, hash, count, time) is signed and
appended to the checkpoint file after the transaction commits (never before: a checkpoint must not vouch for
records that were rolled back); `checkpoint` writes one on demand. On PostgreSQL the table refuses UPDATE and
DELETE (a trigger, migration 0009).
"""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from typing import Iterable, Iterator

from sqlalchemy import event, func, insert, select, text
from sqlalchemy.orm import Session

from ..db import one_of
from ..domain import pdl
from ..models import CareUnit, PdlRecord, Staff
from ..pdl_checkpoints import CheckpointFile, PdlSettings, settings_for

logger = logging.getLogger(__name__)

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


def _head(session: Session) -> tuple[int, str]:
    """The newest record's id and hash; (0, GENESIS) for an empty log."""
    row = session.execute(select(_COLUMNS.id, _COLUMNS.hash).order_by(_COLUMNS.id.desc()).limit(1)).first()
    return (row[0], row[1]) if row is not None else (0, pdl.GENESIS)


def append(session: Session, entries: list[pdl.PdlEntry], *, session_key: str, now: datetime,
           settings: PdlSettings | None = None) -> int:
    """Append the entries this login session has not logged yet (same user, unit, patient, activity and
    resource) to the chain, all stamped `now` (naive local time), in the caller's transaction: the caller
    commits them together with what they record (a write and its "Skriva" record are one transaction).
    Returns how many were added. `settings` (keys, checkpoints) default to the session's app's."""
    if now.tzinfo is not None:
        raise ValueError("PDL times are naive local times")
    entries = pdl.unique(entries)
    if not entries:
        return 0
    settings = settings or settings_for(session)
    _lock_chain(session)
    done = _already_logged(session, session_key, sorted({e.patient_pnr for e in entries}))
    new = [e for e in entries if e.dedupe_key() not in done]
    if new:
        before, last_hash = _head(session)
        records = pdl.chain(new, prev_hash=last_hash, at=now, session_key=session_key, key=settings.chain_key)
        session.execute(insert(PdlRecord.__table__), records)
        if settings.every:
            after, _hash = _head(session)
            if after // settings.every > before // settings.every:
                _after_commit(session, settings, head_checkpoint(session, settings, now))
    return len(new)


# --- checkpoints ----------------------------------------------------------------------------------------------

_PENDING = "pdl_pending_checkpoints"
_LISTENING = "pdl_checkpoint_listeners"


def head_checkpoint(session: Session, settings: PdlSettings, now: datetime) -> pdl.Checkpoint:
    """The log's head as a checkpoint: the newest record, its hash, and how many records there are. The count
    continues the newest checkpoint in the file when that one still matches the table (one indexed count of
    the records since), else all records are counted."""
    last_id, last_hash = _head(session)
    if last_id == 0:
        return pdl.Checkpoint(last_id=0, last_hash=pdl.GENESIS, count=0, at=now)
    base = settings.file.newest(settings.checkpoint_key)
    if (base is not None and 0 < base.last_id <= last_id
            and session.scalar(select(_COLUMNS.hash).where(_COLUMNS.id == base.last_id)) == base.last_hash):
        since = session.scalar(select(func.count()).select_from(PdlRecord)
                               .where(_COLUMNS.id > base.last_id, _COLUMNS.id <= last_id)) or 0
        count = base.count + since
    else:
        count = session.scalar(select(func.count()).select_from(PdlRecord).where(_COLUMNS.id <= last_id)) or 0
    return pdl.Checkpoint(last_id=last_id, last_hash=last_hash, count=count, at=now)


def checkpoint(session: Session, *, now: datetime, settings: PdlSettings | None = None) -> pdl.Checkpoint:
    """Write a checkpoint of the log's head now (`portal pdl-checkpoint`): under the chain's lock, so that every
    append before it has committed and none is half done. Ends the session's transaction (a session of its own)."""
    settings = settings or settings_for(session)
    try:
        _lock_chain(session)
        found = head_checkpoint(session, settings, now)
        settings.file.append(found, settings.checkpoint_key)
    finally:
        session.rollback()  # releases the lock; nothing was written to the table
    return found


def _after_commit(session: Session, settings: PdlSettings, found: pdl.Checkpoint) -> None:
    """Write the checkpoint when this session's transaction commits; forget it if it rolls back."""
    session.info.setdefault(_PENDING, []).append((settings.checkpoint_file, settings.checkpoint_key, found))
    if not session.info.get(_LISTENING):
        event.listen(session, "after_commit", _write_pending)
        event.listen(session, "after_soft_rollback", _drop_pending)
        session.info[_LISTENING] = True


def _write_pending(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint was released: the records are not committed yet
        return
    for path, key, found in session.info.pop(_PENDING, []):
        try:
            CheckpointFile(path).append(found, key)
        except OSError as err:  # the records are committed: a missed checkpoint must not fail the page
            logger.error("PDL: checkpoint after record %s could not be written to %s: %s", found.last_id, path, err)


def _drop_pending(session: Session, _previous_transaction: object) -> None:
    session.info.pop(_PENDING, None)


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


def check_chain(session: Session, *, settings: PdlSettings | None = None,
                checkpoints: Iterable[pdl.Checkpoint] | None = None) -> pdl.ChainCheck:
    """Walk the whole chain with the chain key, comparing it with the checkpoints given (none: the chain
    alone); the finished check holds the problems (one line each), notes and how many records it read."""
    settings = settings or settings_for(session)
    check = pdl.ChainCheck(settings.chain_key, checkpoints)
    for record in _stream(session):
        check.add(record)
    return check.finish()


def check_log(session: Session, *, settings: PdlSettings | None = None) -> tuple[pdl.ChainCheck, list[str]]:
    """The whole check (`portal pdl-verify`): the chain, and every checkpoint in the checkpoint file. Returns
    the check and the checkpoint file's own problems (lines that cannot be read or are not signed with the
    key)."""
    settings = settings or settings_for(session)
    checkpoints, file_problems = settings.file.read(settings.checkpoint_key)
    return check_chain(session, settings=settings, checkpoints=checkpoints), file_problems


def verify_chain(session: Session) -> list[str]:
    """Problems with the stored chain alone (domain.pdl.ChainCheck, no checkpoints): [] when every record is
    unchanged and none has been removed or inserted between others."""
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


def extract(session: Session, patient_pnr: str, *, start: date | None = None, end: date | None = None,
            provider_id: str | None = None) -> list[PdlRecord]:
    """A patient's records for a log extract, oldest first: from the start of `start` to the end of `end`
    (days, inclusive; None: no limit), of one care provider's staff if given."""
    query = select(PdlRecord).where(PdlRecord.patient_pnr == patient_pnr).order_by(PdlRecord.at, PdlRecord.id)
    if start is not None:
        query = query.where(PdlRecord.at >= datetime.combine(start, datetime.min.time()))
    if end is not None:
        query = query.where(PdlRecord.at < datetime.combine(end + timedelta(days=1), datetime.min.time()))
    if provider_id is not None:
        query = query.where(PdlRecord.user_provider_id == provider_id)
    return list(session.scalars(query))


def staff_names(session: Session, hsa_ids: Iterable[str]) -> dict[str, str]:
    """The names of these staff members as the HSA directory (the staff table) has them."""
    ids = sorted(set(hsa_ids))
    if not ids:
        return {}
    rows = session.execute(select(Staff.hsa_id, Staff.given_name, Staff.family_name)
                           .where(one_of(session, Staff.hsa_id, ids)))
    return {hsa_id: f"{given} {family}".strip() for hsa_id, given, family in rows}


def unit_names(session: Session, hsa_ids: Iterable[str]) -> dict[str, str]:
    """The names of these care units."""
    ids = sorted(set(hsa_ids))
    if not ids:
        return {}
    rows = session.execute(select(CareUnit.hsa_id, CareUnit.name).where(one_of(session, CareUnit.hsa_id, ids)))
    return {hsa_id: name for hsa_id, name in rows}
