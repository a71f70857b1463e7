"""The mail outbox (table `mail_notices`) and the units' notice addresses (table `unit_settings`).

Queueing (`fk_wrote`, `fk_messages_stored`) writes in the caller's transaction, with the message FK wrote: the
notice exists if and only if the message does. Delivery takes the same care as the certificate outbox
(repository/outbox.py): `claim_due` takes due rows in one statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL;
SQLite serialises writers) and leases them, so two workers never send the same notice; a worker that dies
leaves a row that becomes due again when the lease ends. Every outcome is recorded by a single conditional
UPDATE (still PENDING, still this attempt), committed at once.

No row holds patient data: the unit, the kind of message, how many, the outcome; errors are shortened and long
digit runs masked (`outbox.short_error`).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Mapping

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .. import db
from ..domain import notices as rules
from ..models import CareUnit, MailNotice, UnitSettings
from .outbox import short_error

PENDING, SENT, FAILED = "PENDING", "SENT", "FAILED"


# --- the unit's address ----------------------------------------------------------------------------------

def notice_address(session: Session, unit_id: str) -> str | None:
    return session.scalar(select(UnitSettings.notice_email).where(UnitSettings.unit_id == unit_id))


def save_notice_address(session: Session, unit_id: str, address: str | None, *, by: str, now: datetime) -> None:
    """Set (or, with None, remove) the unit's notice address; commits. Notices already queued go to the address
    the unit has when they are sent (none: they are dropped as NO_ADDRESS)."""
    row = session.get(UnitSettings, unit_id)
    if row is None:
        row = UnitSettings(unit_id=unit_id)
        session.add(row)
    row.notice_email = address
    row.updated_at = now
    row.updated_by = by
    session.commit()


def _notified_units(session: Session, unit_ids: Iterable[str]) -> dict[str, set[str]]:
    """For each unit a message arrived on: the units told about it, the unit itself and the units above it (a
    coordinator of a unit follows its sub-units' questions) that have a notice address."""
    parents: dict[str, str | None] = {}
    frontier = set(unit_ids)
    while frontier:
        rows = session.execute(select(CareUnit.hsa_id, CareUnit.parent_id).where(CareUnit.hsa_id.in_(frontier))).all()
        parents.update({u: p for u, p in rows})
        frontier = {p for _, p in rows if p and p not in parents}
    with_address = set(session.scalars(select(UnitSettings.unit_id).where(
        UnitSettings.unit_id.in_(list(parents)), UnitSettings.notice_email.is_not(None))))
    out: dict[str, set[str]] = {}
    for unit in unit_ids:
        chain: list[str] = []
        at: str | None = unit
        while at and at not in chain:
            chain.append(at)
            at = parents.get(at)
        out[unit] = {u for u in chain if u in with_address}
    return out


# --- queueing ------------------------------------------------------------------------------------------------

def _now() -> datetime:
    """The app's clock when there is an app (tests move it), else the system's (local time, as stored)."""
    from flask import current_app, has_app_context

    from ..adapters.clock import SystemClock

    if has_app_context():
        return current_app.extensions["clock"].now()
    return SystemClock().now()


def _window() -> float:
    from flask import current_app, has_app_context

    return float(current_app.config.get("MAIL_COALESCE_SECONDS", 60)) if has_app_context() else 60.0


def fk_wrote(session: Session, unit_id: str, kind: str, count: int = 1, *, now: datetime | None = None,
             coalesce_seconds: float | None = None) -> list[int]:
    """FK has written `count` messages of this kind (domain.notices.KINDS) on this unit: queue a notice to the
    unit and to each unit above it that named an address, in the caller's transaction (no commit). A notice of
    the same kind to the same unit still waiting out its coalescing window (MAIL_COALESCE_SECONDS) takes the
    count instead of a new row. Returns the ids of the notices queued or joined ([] when nobody is told)."""
    if kind not in rules.KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    now = now or _now()
    window = _window() if coalesce_seconds is None else coalesce_seconds
    ids: list[int] = []
    for notified in sorted(_notified_units(session, [unit_id])[unit_id]):
        waiting = (MailNotice.state == PENDING, MailNotice.attempts == 0, MailNotice.next_attempt_at > now)
        joined = session.scalar(select(MailNotice.id).where(MailNotice.unit_id == notified, MailNotice.kind == kind,
                                                            *waiting).order_by(MailNotice.id).limit(1))
        if joined is not None:
            # conditional: a worker that claimed it meanwhile (attempts 1) wins, and this becomes a new notice
            result = session.execute(update(MailNotice).where(MailNotice.id == joined, *waiting)
                                     .values(count=MailNotice.count + count)
                                     .execution_options(synchronize_session=False))
            if db.rowcount(result) == 1:
                ids.append(joined)
                continue
        notice = MailNotice(unit_id=notified, kind=kind, count=count, state=PENDING, attempts=0, created_at=now,
                            next_attempt_at=rules.due_after_coalescing(now, window))
        session.add(notice)
        session.flush()
        ids.append(notice.id)
    return ids


def fk_messages_stored(session: Session, messages: Iterable[Mapping]) -> None:
    """Messages were stored in this transaction (rows as dicts: sender, unit_id, in_reply_to, reminder_of,
    subject): queue one notice per unit and kind for those FK wrote (`fk_wrote`)."""
    counts: Counter[tuple[str, str]] = Counter()
    for m in messages:
        kind = rules.kind_of(m.get("sender") or "", in_reply_to=m.get("in_reply_to"),
                             reminder_of=m.get("reminder_of"), subject=m.get("subject"))
        if kind is not None:
            counts[(m["unit_id"], kind)] += 1
    for (unit_id, kind), n in sorted(counts.items()):
        fk_wrote(session, unit_id, kind, n)


# --- delivery ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Due:
    """A claimed notice with what its mail needs: the unit's name and current address (None: removed)."""

    id: int
    unit_id: str
    kind: str
    count: int
    attempts: int
    lease_until: datetime
    unit_name: str
    address: str | None


def claim_due(session: Session, now: datetime, lease: timedelta, limit: int = 20) -> list[Due]:
    """Take up to `limit` due notices (PENDING, next_attempt_at <= now): each gets attempts + 1 and
    next_attempt_at = now + lease. Commits; then reads the units' names and addresses."""
    due = (select(MailNotice.id)
           .where(MailNotice.state == PENDING, MailNotice.next_attempt_at <= now)
           .order_by(MailNotice.next_attempt_at, MailNotice.id)
           .limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    stmt = (update(MailNotice)
            .where(MailNotice.id.in_(due.scalar_subquery()))
            .values(attempts=MailNotice.attempts + 1, next_attempt_at=now + lease)
            .returning(MailNotice.id, MailNotice.unit_id, MailNotice.kind, MailNotice.count.label("messages"),
                       MailNotice.attempts, MailNotice.next_attempt_at)
            .execution_options(synchronize_session=False))
    try:
        claimed = list(session.execute(stmt).all())
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if not claimed:
        return []
    units = {r.unit_id for r in claimed}
    names = dict(session.execute(select(CareUnit.hsa_id, CareUnit.name).where(CareUnit.hsa_id.in_(units))).all())
    addresses = dict(session.execute(select(UnitSettings.unit_id, UnitSettings.notice_email)
                                     .where(UnitSettings.unit_id.in_(units))).all())
    session.commit()  # end the read (SQLite): nothing stays open while mail is sent
    return sorted((Due(id=r.id, unit_id=r.unit_id, kind=r.kind, count=r.messages, attempts=r.attempts,
                       lease_until=r.next_attempt_at, unit_name=names.get(r.unit_id) or r.unit_id,
                       address=addresses.get(r.unit_id)) for r in claimed), key=lambda d: d.id)


def _mine(notice: Due):
    """Still PENDING and still under this attempt's lease (not claimed again after an expired lease)."""
    return (MailNotice.id == notice.id, MailNotice.state == PENDING, MailNotice.attempts == notice.attempts)


def _record(session: Session, notice: Due, **values) -> bool:
    result = session.execute(update(MailNotice).where(*_mine(notice)).values(**values)
                             .execution_options(synchronize_session=False))
    session.commit()
    return db.rowcount(result) == 1


def record_sent(session: Session, notice: Due, now: datetime, address: str) -> bool:
    return _record(session, notice, state=SENT, sent_at=now, sent_to=address, next_attempt_at=None, last_error=None)


def record_failure(session: Session, notice: Due, due_again: datetime | None, now: datetime, error: str) -> str | None:
    """An attempt failed: due again at `due_again`, or (None) given up: FAILED, GAVE_UP. The new state, or None
    when the row was no longer this attempt's."""
    values: dict = {"last_error": short_error(error)}
    if due_again is None:
        values.update(state=FAILED, failure=rules.GAVE_UP, failed_at=now, next_attempt_at=None)
    else:
        values["next_attempt_at"] = due_again
    return values.get("state", PENDING) if _record(session, notice, **values) else None


def record_ended(session: Session, notice: Due, now: datetime, failure: str, error: str) -> bool:
    """Given up without retrying: REJECTED (the mail server refused for good) or NO_ADDRESS."""
    return _record(session, notice, state=FAILED, failure=failure, failed_at=now, next_attempt_at=None,
                   last_error=short_error(error))


def release(session: Session, notices: Iterable[Due], now: datetime) -> int:
    """Give back claimed notices that were not tried (a worker told to stop): due at once, the attempt not
    counted. Commits; how many."""
    released = 0
    for notice in notices:
        result = session.execute(update(MailNotice).where(*_mine(notice))
                                 .values(attempts=MailNotice.attempts - 1, next_attempt_at=now)
                                 .execution_options(synchronize_session=False))
        session.commit()
        released += db.rowcount(result)
    return released


def pending_summary(session: Session) -> tuple[int, datetime | None]:
    """How many notices wait, and when the oldest was queued (the metrics)."""
    row = session.execute(select(func.count(), func.min(MailNotice.created_at))
                          .where(MailNotice.state == PENDING)).one()
    return int(row[0]), row[1]
