"""The outbox (table `sends`): storing a send request, claiming due sends, recording outcomes.

Exactly-once rests on three things here:
- a partial unique index (`ux_sends_live` on models.Send) lets at most one pending or delivered send of a
  certificate to a recipient exist, so two racing requests cannot both win;
- `claim_due` takes due rows in one statement (`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite serialises
  writers) and leases them, so two workers never hold the same row, and a worker that dies leaves a row
  that becomes due again when the lease ends;
- every send has an idempotency key, so a repeated post after a crash or a timeout is recognised by the
  recipient; a new send that retries a failed one which may have reached the recipient carries its key
  (`request_send`, `sending.retry_key`), so the retry is recognised too.

How a send ends when it is not delivered is stored on the row: `failure` (REJECTED, REFUSED, GAVE_UP: see
domain/sending.py) and `maybe_received` (an attempt timed out or got no clear answer).

On SQLite a transaction that has read cannot write once another connection has written (it would fail at
once, not wait), so every write here is a single statement in a transaction of its own.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Iterable

from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from .. import db
from ..domain import sending
from ..domain.certificates import CertificateView, SendView
from ..models import CareProvider, CareSend, CareUnit, Certificate, CertificateRelation, Send, Staff

PENDING, DELIVERED, FAILED = "PENDING", "DELIVERED", "FAILED"
CERTIFICATE = "CERTIFICATE"
ANSWER = "ANSWER"  # the care unit's answer to an FK question (payload_ref: the answer's message id)
QUESTION = "QUESTION"  # the care unit's own question to FK (payload_ref: the question's message id)
MESSAGES = (ANSWER, QUESTION)  # the kinds that post a message about a certificate (repository.questions)
KINDS = (CERTIFICATE, ANSWER, QUESTION)
ERROR_LENGTH = 200
CHUNK = 500
_DIGITS = re.compile(r"\d{6,}(?:[-+]\d{4})?")  # a personnummer (or any long number)


class AlreadySent(Exception):
    """A pending or delivered send of the certificate to the recipient already exists."""


def _live(certificate_id: str, recipient: str, kind: str = CERTIFICATE):
    return and_(Send.certificate_id == certificate_id, Send.recipient == recipient, Send.kind == kind,
                Send.state.in_((PENDING, DELIVERED)))


def _retried(session: Session, certificate_id: str, recipient: str) -> tuple[str, bool] | None:
    """The key a new send of the certificate to the recipient carries, and whether the recipient may have it
    already: from the last send if it failed (`sending.retry_key`); None: a new key."""
    last = session.execute(
        select(Send.state, Send.failure, Send.maybe_received, Send.idempotency_key)
        .where(Send.certificate_id == certificate_id, Send.recipient == recipient, Send.kind == CERTIFICATE)
        .order_by(Send.requested_at.desc(), Send.id.desc()).limit(1)).first()
    session.commit()  # end the read before writing (SQLite)
    if last is None or last.state != FAILED:
        return None
    key = sending.retry_key(last.failure, bool(last.maybe_received), last.idempotency_key)
    return (key, bool(last.maybe_received)) if key is not None else None


def request_send(session: Session, *, certificate_id: str, recipient: str, requested_by: str | None,
                 now: datetime) -> int:
    """Store a send (PENDING, due now) and commit; its id. Raises AlreadySent when a live one exists.

    A send that follows a failed one is a new row (the failed one stays as history) that carries the failed
    one's idempotency key when the recipient may have it (see `sending.retry_key`): then the recipient
    acknowledges the retry without a second certificate. Two retries racing still make one live send (the
    partial unique index)."""
    # end the caller's read transaction first: on SQLite a transaction that has read cannot start writing
    # once the worker has written meanwhile (it fails at once instead of waiting for the lock)
    session.commit()
    carried = _retried(session, certificate_id, recipient)
    key, maybe_received = carried if carried is not None else (sending.idempotency_key(), False)
    send = Send(certificate_id=certificate_id, recipient=recipient, kind=CERTIFICATE, idempotency_key=key,
                state=PENDING, attempts=0, requested_at=now, requested_by=requested_by, next_attempt_at=now,
                maybe_received=maybe_received)
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


def release(session: Session, sends: Iterable[Send], now: datetime) -> int:
    """Give back claimed sends that were not posted (a worker told to stop): due again at once for any worker,
    the attempt not counted. Only a row still under this worker's lease changes. Commits; how many."""
    released = 0
    for send in sends:
        result = session.execute(
            update(Send).where(Send.id == send.id, Send.state == PENDING, Send.attempts == send.attempts,
                               Send.next_attempt_at == send.next_attempt_at)
            .values(attempts=Send.attempts - 1, next_attempt_at=now)
            .execution_options(synchronize_session=False))
        session.commit()
        released += db.rowcount(result)
    return released


def record_delivered(session: Session, send_id: int, now: datetime) -> bool:
    """The recipient has acknowledged: DELIVERED. False if the send was no longer pending (nothing changed)."""
    result = session.execute(
        update(Send).where(Send.id == send_id, Send.state == PENDING)
        .values(state=DELIVERED, delivered_at=now, next_attempt_at=None, last_error=None)
        .execution_options(synchronize_session=False))
    session.commit()
    return db.rowcount(result) == 1


def record_failure(session: Session, send_id: int, now: datetime, error: str, give_up_after: timedelta, *,
                   maybe_received: bool = False, random: sending.Random | None = None) -> str | None:
    """An attempt failed (and may be tried again): schedule the next one after the backoff with its jitter
    (`random`: its source), or give up (FAILED, failure GAVE_UP) when the send is `give_up_after` old.
    `maybe_received`: the attempt timed out or got no clear answer (kept once set). Returns the send's new
    state, or None if it was no longer pending or was claimed again meanwhile (nothing changed)."""
    row = session.execute(select(Send.attempts, Send.requested_at, Send.state).where(Send.id == send_id)).first()
    session.commit()  # end the read before writing (SQLite)
    if row is None or row.state != PENDING:
        return None
    values: dict = {"last_error": short_error(error)}
    if maybe_received:
        values["maybe_received"] = True
    if sending.should_give_up(row.requested_at, now, give_up_after):
        values.update(state=FAILED, failure=sending.GAVE_UP, failed_at=now, next_attempt_at=None)
    else:
        values["next_attempt_at"] = sending.next_attempt(row.attempts, row.requested_at, now, give_up_after,
                                                         random)
    result = session.execute(
        update(Send).where(Send.id == send_id, Send.state == PENDING, Send.attempts == row.attempts)
        .values(**values).execution_options(synchronize_session=False))
    session.commit()
    if db.rowcount(result) != 1:
        return None  # claimed again meanwhile (an expired lease): the newer attempt records its own outcome
    return values.get("state", PENDING)


def record_rejected(session: Session, send_id: int, now: datetime, error: str) -> bool:
    """The recipient answered that it will not take the send (a permanent error): FAILED at once, failure
    REJECTED, never tried again. False if the send was no longer pending (nothing changed)."""
    return _fail(session, send_id, now, sending.REJECTED, short_error(error))


def record_refused(session: Session, send_id: int, now: datetime, reason: str) -> bool:
    """Give up without posting (failure REFUSED): the certificate may no longer be sent (revoked or replaced
    meanwhile, sent by care, valideringsperson). `reason`: the refusal code, kept in last_error."""
    return _fail(session, send_id, now, sending.REFUSED, short_error(reason))


def _fail(session: Session, send_id: int, now: datetime, failure: str, error: str) -> bool:
    result = session.execute(
        update(Send).where(Send.id == send_id, Send.state == PENDING)
        .values(state=FAILED, failure=failure, failed_at=now, next_attempt_at=None, last_error=error)
        .execution_options(synchronize_session=False))
    session.commit()
    return db.rowcount(result) == 1


def short_error(error: str) -> str:
    """What is kept of an error: short, and with no long digit runs (never a personnummer)."""
    return _DIGITS.sub("…", " ".join(str(error).split()))[:ERROR_LENGTH]


def send_view(row) -> SendView:
    """A citizen's send as the pages and rules see it (row: the columns of `SEND_VIEW_COLUMNS`)."""
    return SendView(recipient=row.recipient, state=row.state, requested_at=row.requested_at,
                    delivered_at=row.delivered_at, failed_at=row.failed_at, failure=row.failure,
                    maybe_received=bool(row.maybe_received),
                    refusal=row.last_error if row.failure == sending.REFUSED else None)


SEND_VIEW_COLUMNS = (Send.certificate_id, Send.recipient, Send.state, Send.requested_at, Send.delivered_at,
                     Send.failed_at, Send.failure, Send.maybe_received, Send.last_error)


def sends_for(session: Session, certificate_ids: Iterable[str]) -> dict[str, list[SendView]]:
    """The certificate sends of these certificates, oldest first, by certificate id."""
    out: dict[str, list[SendView]] = {}
    ids = list(dict.fromkeys(certificate_ids))
    for i in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(*SEND_VIEW_COLUMNS)
            .where(Send.certificate_id.in_(ids[i:i + CHUNK]), Send.kind == CERTIFICATE)
            .order_by(Send.requested_at, Send.id))
        for r in rows:
            out.setdefault(r.certificate_id, []).append(send_view(r))
    return out


def delivery_sources(session: Session, certificate_ids: Iterable[str]) -> dict[str, CertificateView]:
    """The certificates of the sends being delivered (with unit, provider and issuing staff names for the
    payload), with what the send request's rules look at again: revoked, replaced by a newer certificate
    that is not revoked, and care's own sends (as delivered SendViews). Whether the patient is a
    valideringsperson is the person service's answer, not this database's."""
    ids = list(dict.fromkeys(certificate_ids))
    out: dict[str, CertificateView] = {}
    newer = aliased(Certificate)
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        replaced = dict(session.execute(
            select(CertificateRelation.to_id, CertificateRelation.from_id)
            .join(newer, newer.id == CertificateRelation.from_id)
            .where(CertificateRelation.kind == "REPLACES", CertificateRelation.to_id.in_(chunk),
                   newer.revoked_at.is_(None))).all())
        by_care: dict[str, list[SendView]] = {}
        for cs in session.execute(select(CareSend.certificate_id, CareSend.recipient, CareSend.sent_at)
                                  .where(CareSend.certificate_id.in_(chunk))):
            by_care.setdefault(cs.certificate_id, []).append(SendView.by_care(cs.recipient, cs.sent_at))
        rows = session.execute(
            select(Certificate, CareUnit.name.label("unit_name"), CareProvider.name.label("provider_name"),
                   Staff.given_name, Staff.family_name)
            .join(CareUnit, CareUnit.hsa_id == Certificate.unit_id)
            .join(CareProvider, CareProvider.hsa_id == Certificate.provider_id)
            .join(Staff, Staff.hsa_id == Certificate.staff_id)
            .where(Certificate.id.in_(chunk)))
        for c, unit_name, provider_name, given, family in rows:
            out[c.id] = CertificateView(
                id=c.id, type_code=c.type_code, type_version=c.type_version, patient_pnr=c.patient_pnr,
                signed_at=c.signed_at, content=c.content, unit_id=c.unit_id, unit_name=unit_name,
                provider_name=provider_name, staff_name=f"{given} {family}", revoked_at=c.revoked_at,
                replaced_by=replaced.get(c.id), sends=tuple(by_care.get(c.id, ())))
    return out
