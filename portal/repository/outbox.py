"""The outbox (table `sends`): storing a send request, claiming due sends, recording outcomes.

Exactly-once rests on three things here:
- a partial unique index (`ux_sends_live` on models.Send) lets at most one pending or delivered send of a
  certificate to a recipient exist, so two racing requests cannot both win;
- `claim_due` takes due rows in one statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serialises
  writers) and leases them, so two workers never hold the same row, and a worker that dies leaves a row
  that becomes due again when the lease ends;
- every send has its own idempotency key, so a repeated post after a crash or a timeout is recognised by
  the recipient.

On SQLite a transaction that has read cannot write once another connection has written (it would fail at
once, not wait), so every write here is a single statement in a transaction of its own.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import db
from ..domain import sending
from ..domain.certificates import CertificateView, SendView
from ..models import CareProvider, CareUnit, Certificate, Person, Send, Staff

PENDING, DELIVERED, FAILED = "PENDING", "DELIVERED", "FAILED"
CERTIFICATE = "CERTIFICATE"
ANSWER = "ANSWER"  # the care unit's answer to an FK question (payload_ref: the answer's message id)
KINDS = (CERTIFICATE, ANSWER)
ERROR_LENGTH = 200
CHUNK = 500
_DIGITS = re.compile(r"\d{6,}(?:[-+]\d{4})?")  # a personnummer (or any long number)


class AlreadySent(Exception):
    """A pending or delivered send of the certificate to the recipient already exists."""


def _live(certificate_id: str, recipient: str, kind: str = CERTIFICATE):
    return and_(Send.certificate_id == certificate_id, Send.recipient == recipient, Send.kind == kind,
                Send.state.in_((PENDING, DELIVERED)))


def request_send(session: Session, *, certificate_id: str, recipient: str, requested_by: str | None,
                 now: datetime) -> int:
    """Store a send (PENDING, due now) and commit; its id. Raises AlreadySent when a live one exists."""
    # end the caller's read transaction first: on SQLite a transaction that has read cannot start writing
    # once the worker has written meanwhile (it fails at once instead of waiting for the lock)
    session.commit()
    send = Send(certificate_id=certificate_id, recipient=recipient, kind=CERTIFICATE,
                idempotency_key=sending.idempotency_key(), state=PENDING, attempts=0, requested_at=now,
                requested_by=requested_by, next_attempt_at=now)
    session.add(send)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        # the unique index said no: a live send exists (or the certificate does not: then re-raise)
        if session.scalar(select(Send.id).where(_live(certificate_id, recipient)).limit(1)) is not None:
            session.rollback()
            raise AlreadySent(certificate_id) from None
        session.rollback()
        raise
    return send.id


def claim_due(session: Session, now: datetime, lease: timedelta, limit: int = 20) -> list[Send]:
    """Take up to `limit` due sends (PENDING, next_attempt_at <= now) of both kinds (certificates and answers)
    for delivery: each gets attempts + 1 and next_attempt_at = now + lease (if the worker dies, the row is due
    again after the lease). Commits."""
    due = (select(Send.id)
           .where(Send.state == PENDING, Send.kind.in_(KINDS), Send.next_attempt_at <= now)
           .order_by(Send.next_attempt_at, Send.id)
           .limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    # one statement: on PostgreSQL the subquery locks (skipping rows another worker holds); on SQLite the
    # statement takes the write lock before it reads, so two workers never see the same row as due
    stmt = (update(Send)
            .where(Send.id.in_(due.scalar_subquery()))
            .values(attempts=Send.attempts + 1, next_attempt_at=now + lease)
            .returning(Send)
            .execution_options(synchronize_session=False, populate_existing=True))
    try:
        claimed = list(session.scalars(stmt).all())
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return sorted(claimed, key=lambda s: (s.requested_at, s.id))


def record_delivered(session: Session, send_id: int, now: datetime) -> bool:
    """The recipient has acknowledged: DELIVERED. False if the send was no longer pending (nothing changed)."""
    result = session.execute(
        update(Send).where(Send.id == send_id, Send.state == PENDING)
        .values(state=DELIVERED, delivered_at=now, next_attempt_at=None, last_error=None)
        .execution_options(synchronize_session=False))
    session.commit()
    return db.rowcount(result) == 1


def record_failure(session: Session, send_id: int, now: datetime, error: str, give_up_after: timedelta) -> str | None:
    """An attempt failed: schedule the next one after the backoff, or give up (FAILED, failed_at) when the send
    is `give_up_after` old. Returns the send's new state, or None if it was no longer pending."""
    row = session.execute(select(Send.attempts, Send.requested_at, Send.state).where(Send.id == send_id)).first()
    session.commit()  # end the read before writing (SQLite)
    if row is None or row.state != PENDING:
        return None
    values: dict = {"last_error": short_error(error)}
    if sending.should_give_up(row.requested_at, now, give_up_after):
        values.update(state=FAILED, failed_at=now, next_attempt_at=None)
    else:
        values.update(next_attempt_at=sending.next_attempt(row.attempts, row.requested_at, now, give_up_after))
    result = session.execute(
        update(Send).where(Send.id == send_id, Send.state == PENDING, Send.attempts == row.attempts)
        .values(**values).execution_options(synchronize_session=False))
    session.commit()
    if db.rowcount(result) != 1:
        return None  # claimed again meanwhile (an expired lease): the newer attempt records its own outcome
    return values.get("state", PENDING)


def record_refused(session: Session, send_id: int, now: datetime, reason: str) -> bool:
    """Give up without posting: the certificate may no longer be sent (revoked meanwhile, valideringsperson)."""
    result = session.execute(
        update(Send).where(Send.id == send_id, Send.state == PENDING)
        .values(state=FAILED, failed_at=now, next_attempt_at=None, last_error=short_error(reason))
        .execution_options(synchronize_session=False))
    session.commit()
    return db.rowcount(result) == 1


def short_error(error: str) -> str:
    """What is kept of an error: short, and with no long digit runs (never a personnummer)."""
    return _DIGITS.sub("…", " ".join(str(error).split()))[:ERROR_LENGTH]


def sends_for(session: Session, certificate_ids: Iterable[str]) -> dict[str, list[SendView]]:
    """The certificate sends of these certificates, oldest first, by certificate id."""
    out: dict[str, list[SendView]] = {}
    ids = list(dict.fromkeys(certificate_ids))
    for i in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(Send.certificate_id, Send.recipient, Send.state, Send.requested_at, Send.delivered_at,
                   Send.failed_at)
            .where(Send.certificate_id.in_(ids[i:i + CHUNK]), Send.kind == CERTIFICATE)
            .order_by(Send.requested_at, Send.id))
        for r in rows:
            out.setdefault(r.certificate_id, []).append(
                SendView(recipient=r.recipient, state=r.state, requested_at=r.requested_at,
                         delivered_at=r.delivered_at, failed_at=r.failed_at))
    return out


@dataclass(frozen=True)
class DeliverySource:
    """What the worker needs to build a send's payload and to check, at delivery, that it may still go."""

    cert: CertificateView
    validation_person: bool


def delivery_sources(session: Session, certificate_ids: Iterable[str]) -> dict[str, DeliverySource]:
    """The certificates (with unit, provider and issuing staff names) of the sends being delivered."""
    ids = list(dict.fromkeys(certificate_ids))
    out: dict[str, DeliverySource] = {}
    for i in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(Certificate, CareUnit.name.label("unit_name"), CareProvider.name.label("provider_name"),
                   Staff.given_name, Staff.family_name, Person.validation_person)
            .join(CareUnit, CareUnit.hsa_id == Certificate.unit_id)
            .join(CareProvider, CareProvider.hsa_id == Certificate.provider_id)
            .join(Staff, Staff.hsa_id == Certificate.staff_id)
            .outerjoin(Person, Person.personnummer == Certificate.patient_pnr)
            .where(Certificate.id.in_(ids[i:i + CHUNK])))
        for c, unit_name, provider_name, given, family, validation in rows:
            view = CertificateView(
                id=c.id, type_code=c.type_code, type_version=c.type_version, patient_pnr=c.patient_pnr,
                signed_at=c.signed_at, content=c.content, unit_id=c.unit_id, unit_name=unit_name,
                provider_name=provider_name, staff_name=f"{given} {family}", revoked_at=c.revoked_at)
            out[c.id] = DeliverySource(view, bool(validation))
    return out
