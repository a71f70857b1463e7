"""The background exports' store (table `export_jobs`): adding a job, finding it for its owner, claiming
pending ones for a builder, recording the file or the failure, deleting what has expired.

A job is reached by a random token (`new_token`: 256 bits, URL-safe) of which only the SHA-256 is stored, and
only by its owner: the same staff member, on the same unit, in the same login session (`Owner`); for anyone
else it does not exist. What goes in the file is decided by the request that asks for it (the table as JSON,
already filtered, masked and worded in the user's language); the builder only makes the file.

Claiming works as the outbox's (`outbox.claim_due`): one statement takes the oldest pending job whose lease has
ended (`FOR UPDATE SKIP LOCKED` on PostgreSQL; on SQLite the statement takes the write lock before it reads),
counts the attempt and leases it, so two builders never hold the same job, and a builder that dies leaves a job
that is taken again when its lease ends. The outcome is recorded only while the job is still this builder's
(same attempt): a builder whose lease ran out and was overtaken changes nothing.

On SQLite a transaction that has read cannot write once another connection has written, so every write here
is a single statement in a transaction of its own (as in the outbox).
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from .. import db
from ..models import AuthSession, ExportJob

PENDING, DONE, FAILED = "PENDING", "DONE", "FAILED"
FAILURE_LENGTH = 200
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def new_token() -> str:
    """A job's token for its URL (43 URL-safe characters)."""
    return secrets.token_urlsafe(32)


def valid_token(token: str) -> bool:
    """Whether the text is shaped like a token (anything else is no job: never sent to the database)."""
    return bool(_TOKEN.fullmatch(token))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Owner:
    """Who may see a job: the staff member, the unit in use and the login session (AuthSession.sid_hash)."""

    staff_id: str
    unit_id: str
    session_key: str


@dataclass(frozen=True)
class JobView:
    """A job as its progress page shows it (never the table or the file)."""

    id: int
    state: str
    list_name: str
    file_format: str
    language: str
    filename: str
    query: str
    row_count: int
    content_size: int | None
    created_at: datetime
    expires_at: datetime
    finished_at: datetime | None

    @property
    def pending(self) -> bool:
        return self.state == PENDING

    @property
    def done(self) -> bool:
        return self.state == DONE

    @property
    def failed(self) -> bool:
        return self.state == FAILED


@dataclass(frozen=True)
class Claimed:
    """A job a builder holds: its id, the attempt (to record the outcome with) and how to make the file."""

    id: int
    attempts: int
    file_format: str
    language: str


_VIEW_COLUMNS = (ExportJob.id, ExportJob.state, ExportJob.list_name, ExportJob.file_format, ExportJob.language,
                 ExportJob.filename, ExportJob.query, ExportJob.row_count, ExportJob.content_size,
                 ExportJob.created_at, ExportJob.expires_at, ExportJob.finished_at)


def add(session: Session, *, token: str, owner: Owner, list_name: str, file_format: str, language: str,
        filename: str, query: str, table_json: str, row_count: int, now: datetime, keep: timedelta) -> ExportJob:
    """Add a pending job to the session, not committed: the caller commits it with the export's PDL records
    (no records, no job)."""
    job = ExportJob(token_hash=token_hash(token), state=PENDING, list_name=list_name, file_format=file_format,
                    language=language, filename=filename, query=query, row_count=row_count, table_json=table_json,
                    staff_id=owner.staff_id, unit_id=owner.unit_id, session_key=owner.session_key, created_at=now,
                    expires_at=now + keep, attempts=0)
    session.add(job)
    return job


def _owned(token: str, owner: Owner, now: datetime):
    return (ExportJob.token_hash == token_hash(token), ExportJob.staff_id == owner.staff_id,
            ExportJob.unit_id == owner.unit_id, ExportJob.session_key == owner.session_key,
            ExportJob.expires_at > now)


def find(session: Session, token: str, owner: Owner, now: datetime) -> JobView | None:
    """The owner's job by its token (None for anyone else's, an expired one, or none)."""
    if not valid_token(token):
        return None
    row = session.execute(select(*_VIEW_COLUMNS).where(*_owned(token, owner, now))).first()
    return JobView(**row._mapping) if row is not None else None


def content(session: Session, job_id: int) -> bytes | None:
    """A finished job's file."""
    return session.scalar(select(ExportJob.content).where(ExportJob.id == job_id, ExportJob.state == DONE))


def claim(session: Session, now: datetime, lease: timedelta) -> Claimed | None:
    """Take the oldest pending job that has not expired and that no builder holds (or whose builder's lease has
    ended) for building: attempts + 1, held until now + lease. Commits. None when there is none."""
    due = (select(ExportJob.id)
           .where(ExportJob.state == PENDING, ExportJob.expires_at > now,
                  or_(ExportJob.lease_until.is_(None), ExportJob.lease_until <= now))
           .order_by(ExportJob.created_at, ExportJob.id)
           .limit(1))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    stmt = (update(ExportJob)
            .where(ExportJob.id.in_(due.scalar_subquery()))
            .values(attempts=ExportJob.attempts + 1, lease_until=now + lease)
            .returning(ExportJob.id, ExportJob.attempts, ExportJob.file_format, ExportJob.language)
            .execution_options(synchronize_session=False))
    try:
        row = session.execute(stmt).first()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return Claimed(row.id, row.attempts, row.file_format, row.language) if row is not None else None


def table_json(session: Session, job: Claimed) -> str | None:
    """What goes in the claimed job's file (None if it is no longer pending). Ends the read (SQLite)."""
    found = session.scalar(select(ExportJob.table_json).where(ExportJob.id == job.id, ExportJob.state == PENDING))
    session.commit()
    return found


def record_done(session: Session, job: Claimed, data: bytes, now: datetime) -> bool:
    """The file is made: DONE, with the file; what it was made from is no longer kept. False (nothing
    changed) if the job is no longer this builder's."""
    result = session.execute(
        update(ExportJob).where(ExportJob.id == job.id, ExportJob.state == PENDING, ExportJob.attempts == job.attempts)
        .values(state=DONE, content=data, content_size=len(data), table_json=None, finished_at=now, lease_until=None)
        .execution_options(synchronize_session=False))
    session.commit()
    return db.rowcount(result) == 1


def record_failed(session: Session, job: Claimed, reason: str, now: datetime) -> bool:
    """The file could not be made: FAILED with the reason (for the log and support, never shown; no personal
    data: pass an exception's type, not its message). False if the job is no longer this builder's."""
    result = session.execute(
        update(ExportJob).where(ExportJob.id == job.id, ExportJob.state == PENDING, ExportJob.attempts == job.attempts)
        .values(state=FAILED, failure=reason[:FAILURE_LENGTH], table_json=None, finished_at=now, lease_until=None)
        .execution_options(synchronize_session=False))
    session.commit()
    return db.rowcount(result) == 1


def purge(session: Session, now: datetime) -> int:
    """Delete the jobs that have expired and those whose login session has ended (logout, timeout): their
    files hold patient data no one can fetch any more. Commits; how many."""
    ended = ExportJob.session_key.not_in(select(AuthSession.sid_hash))
    result = session.execute(delete(ExportJob).where(or_(ExportJob.expires_at <= now, ended))
                             .execution_options(synchronize_session=False))
    session.commit()
    return db.rowcount(result)
