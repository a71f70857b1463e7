"""FK's questions in Rehabstöd: the unit's questions, one question's thread, and the care unit's
writes (answer, mark handled, undo), each in one transaction.

Exactly one answer per question rests on the conditional update that starts every write here: the
question is handled only if it is still open (``handled_at IS NULL``), and the answer and its outbox
row are stored in the same transaction, so a double submit or two racing staff members give one
answer and one send (PostgreSQL re-checks the condition after the row lock; SQLite serialises writers).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable, Iterable, Optional

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..db import rowcount
from ..domain import questions as rules
from ..models import CareUnit, Certificate, CertificateRelation, Message, Person, Send

# writes the PDL record of a write into the write's own transaction (repository.pdl.append)
Audit = Optional[Callable[[Session], None]]

COLS = (Message.id, Message.certificate_id, Message.unit_id, Message.patient_pnr, Message.subject, Message.sender,
        Message.heading, Message.text, Message.sent_at, Message.last_answer_date, Message.in_reply_to,
        Message.reminder_of, Message.handled_at, Message.handled_by)
CHUNK = 1000

ANSWERED, DUPLICATE, NOT_OPEN = "ANSWERED", "DUPLICATE", "NOT_OPEN"


@dataclass(frozen=True)
class CertificateFacts:
    id: str
    type_code: str
    patient_pnr: str
    staff_id: str
    unit_id: str
    provider_id: str
    signed_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class ListedQuestion:
    question: rules.Question
    certificate: CertificateFacts
    reminders: int
    last_reminder_at: datetime | None


def _question(row) -> rules.Question:
    return rules.Question.of(row._asdict())


def _facts(row) -> CertificateFacts:
    return CertificateFacts(row.c_id, row.type_code, row.c_patient, row.staff_id, row.c_unit, row.provider_id,
                            row.signed_at, row.revoked_at)


_CERT_COLS = (Certificate.id.label("c_id"), Certificate.type_code, Certificate.patient_pnr.label("c_patient"),
              Certificate.staff_id, Certificate.unit_id.label("c_unit"), Certificate.provider_id,
              Certificate.signed_at, Certificate.revoked_at)


def open_unit_questions(session: Session, unit_ids: list[str], provider_id: str, today: date,
                        patient_pnr: str | None = None) -> list[ListedQuestion]:
    """FK's open questions (not reminders) of the last 90 days on these units' certificates of this provider
    (not revoked), with their reminder counts; the oldest first (with `patient_pnr`: that patient's only).
    Whether the viewer may see each one is the caller's (the person service and the access rules)."""
    since = datetime.combine(today - timedelta(days=rules.QUESTION_WINDOW_DAYS), datetime.min.time())
    query = (select(*COLS, *_CERT_COLS).join(Certificate, Certificate.id == Message.certificate_id)
             .where(Message.unit_id.in_(unit_ids), Message.handled_at.is_(None), Message.sender == rules.FK,
                    Message.subject.in_(rules.SUBJECTS), Message.sent_at >= since,
                    Certificate.provider_id == provider_id, Certificate.revoked_at.is_(None)))
    if patient_pnr is not None:
        query = query.where(Message.patient_pnr == patient_pnr)
    rows = session.execute(query).all()
    ids = [r.id for r in rows]
    answered: set[str] = set()
    reminders: dict[str, tuple[int, datetime | None]] = {}
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        answered |= set(session.scalars(select(Message.in_reply_to).where(
            Message.in_reply_to.in_(chunk), Message.sender == rules.CARE)))
        for of, n, last in session.execute(
                select(Message.reminder_of, func.count(), func.max(Message.sent_at))
                .where(Message.reminder_of.in_(chunk)).group_by(Message.reminder_of)):
            if of is not None:
                reminders[of] = (n, last)
    out = []
    for r in rows:
        q = _question(r)
        if rules.is_open(q, today, q.id in answered):
            count, latest = reminders.get(q.id, (0, None))
            out.append(ListedQuestion(q, _facts(r), count, latest))
    return sorted(out, key=lambda lq: (lq.question.sent_at, lq.question.id))


def one(session: Session, question_id: str) -> tuple[rules.Question, CertificateFacts] | None:
    row = session.execute(select(*COLS, *_CERT_COLS).join(Certificate, Certificate.id == Message.certificate_id)
                          .where(Message.id == question_id)).first()
    return (_question(row), _facts(row)) if row is not None else None


def certificate_messages(session: Session, certificate_id: str) -> list[rules.Question]:
    """Every message about the certificate (questions, reminders, answers)."""
    return [_question(r) for r in session.execute(select(*COLS).where(Message.certificate_id == certificate_id))]


def is_answered(session: Session, question_id: str) -> bool:
    return session.scalar(select(Message.id).where(Message.in_reply_to == question_id,
                                                   Message.sender == rules.CARE).limit(1)) is not None


def complementing(session: Session, certificate_id: str) -> list[CertificateFacts]:
    """The certificates that complement this one (newest first)."""
    rows = session.execute(select(*_CERT_COLS).join(CertificateRelation, CertificateRelation.from_id == Certificate.id)
                           .where(CertificateRelation.to_id == certificate_id,
                                  CertificateRelation.kind == "COMPLEMENTS")
                           .order_by(Certificate.signed_at.desc())).all()
    return [_facts(r) for r in rows]


def answer_send(session: Session, answer_id: str) -> Send | None:
    return session.scalar(select(Send).where(Send.kind == "ANSWER", Send.payload_ref == answer_id))


def sends_of_answers(session: Session, answer_ids: Iterable[str]) -> dict[str, Send]:
    ids = list(answer_ids)
    if not ids:
        return {}
    return {s.payload_ref: s for s in session.scalars(select(Send).where(Send.kind == "ANSWER",
                                                                      Send.payload_ref.in_(ids)))
            if s.payload_ref is not None}


def _handle(session: Session, question_id: str, by: str, now: datetime) -> bool:
    """Handle the question if still open, and its reminders; False (nothing changed) if it was not."""
    result = session.execute(update(Message).where(Message.id == question_id, Message.handled_at.is_(None))
                             .values(handled_at=now, handled_by=by).execution_options(synchronize_session=False))
    if rowcount(result) != 1:
        return False
    session.execute(update(Message).where(Message.reminder_of == question_id, Message.handled_at.is_(None))
                    .values(handled_at=now, handled_by=by).execution_options(synchronize_session=False))
    return True


def answer(session: Session, *, question: rules.Question, answer_id: str, text: str, staff_id: str,
           now: datetime, audit: Audit = None) -> str:
    """Store the care unit's answer and its send to FK (kind ANSWER, a key derived from the answer's id),
    and handle the question and its reminders: all or nothing, with `audit`'s PDL record ("Skriva") in the
    same transaction. ANSWERED, or DUPLICATE (this very answer exists: a double submit), or NOT_OPEN
    (answered or handled meanwhile: nothing stored)."""
    session.commit()  # end the caller's read: the write below starts a transaction of its own (SQLite)
    try:
        if not _handle(session, question.id, staff_id, now):
            session.rollback()
            return DUPLICATE if session.get(Message, answer_id) is not None else NOT_OPEN
        if is_answered(session, question.id):  # an answer loaded by the intake, question left unhandled
            session.rollback()
            return NOT_OPEN
        session.add(Message(id=answer_id, certificate_id=question.certificate_id, unit_id=question.unit_id,
                            patient_pnr=question.patient_pnr, subject=question.subject, sender=rules.CARE,
                            heading=question.heading, text=text, sent_at=now, in_reply_to=question.id))
        session.flush()
        session.add(Send(certificate_id=question.certificate_id, recipient=rules.FK, kind="ANSWER",
                         payload_ref=answer_id, idempotency_key=rules.idempotency_key(answer_id),
                         state="PENDING", attempts=0, requested_at=now, requested_by=staff_id, next_attempt_at=now))
        session.flush()
        if audit is not None:
            audit(session)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return ANSWERED


def mark_handled(session: Session, question_id: str, staff_id: str, now: datetime, audit: Audit = None) -> bool:
    """Mark an open question (and its reminders) handled, with `audit`'s PDL record in the same transaction;
    False if it already was (nothing changed)."""
    session.commit()
    try:
        done = _handle(session, question_id, staff_id, now)
        if done and audit is not None:
            audit(session)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return done


def undo_handled(session: Session, question_id: str, audit: Audit = None) -> bool:
    """Open a question again that staff marked handled (and the reminders handled with it), with `audit`'s
    PDL record in the same transaction. Never one handled by an answer or by a complementing certificate.
    False if nothing changed."""
    session.commit()
    try:
        row = session.execute(select(Message.handled_at, Message.handled_by).where(Message.id == question_id)).first()
        if (row is None or row.handled_at is None or row.handled_by == rules.COMPLEMENTED
                or is_answered(session, question_id)):
            session.rollback()
            return False
        result = session.execute(update(Message).where(
            Message.id == question_id, Message.handled_at == row.handled_at, Message.handled_by == row.handled_by)
            .values(handled_at=None, handled_by=None).execution_options(synchronize_session=False))
        if rowcount(result) != 1:
            session.rollback()
            return False
        session.execute(update(Message).where(
            Message.reminder_of == question_id, Message.handled_at == row.handled_at,
            Message.handled_by == row.handled_by)
            .values(handled_at=None, handled_by=None).execution_options(synchronize_session=False))
        if audit is not None:
            audit(session)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return True


@dataclass(frozen=True)
class AnswerSource:
    """What the worker needs to post an answer."""

    answer: rules.Question
    question: rules.Question | None
    unit_name: str | None
    validation_person: bool


def answer_sources(session: Session, answer_ids: Iterable[str]) -> dict[str, AnswerSource]:
    ids = list(dict.fromkeys(i for i in answer_ids if i))
    out: dict[str, AnswerSource] = {}
    for i in range(0, len(ids), CHUNK):
        rows = session.execute(select(*COLS, CareUnit.name.label("unit_name"), Person.validation_person)
                               .join(CareUnit, CareUnit.hsa_id == Message.unit_id)
                               .outerjoin(Person, Person.personnummer == Message.patient_pnr)
                               .where(Message.id.in_(ids[i:i + CHUNK]))).all()
        asked = {r.in_reply_to for r in rows if r.in_reply_to}
        asked_rows = session.execute(select(*COLS).where(Message.id.in_(asked)))
        questions = {q.id: q for q in (_question(r) for r in asked_rows)}
        for r in rows:
            a = _question(r)
            out[a.id] = AnswerSource(a, questions.get(a.in_reply_to or ""), r.unit_name, bool(r.validation_person))
    return out


__all__ = ["ANSWERED", "DUPLICATE", "NOT_OPEN", "AnswerSource", "CertificateFacts", "ListedQuestion", "answer",
           "answer_send", "answer_sources", "certificate_messages", "complementing", "is_answered", "mark_handled",
           "one", "open_unit_questions", "sends_of_answers", "undo_handled"]
