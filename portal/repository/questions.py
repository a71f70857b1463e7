"""FK's questions in Rehabstöd: the unit's questions, one question's thread, and the care unit's
writes (answer, mark handled, undo), each in one transaction.

Exactly one answer per question rests on the conditional update that starts every write here: the
question is handled only if it is still open (``handled_at IS NULL``), and the answer and its outbox
row are stored in the same transaction, so a double submit or two racing staff members give one
answer and one send (PostgreSQL re-checks the condition after the row lock; SQLite serialises writers).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Callable, Iterable, Iterator, Optional

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..db import rowcount
from ..domain import questions as rules
from ..models import (
    CareSend,
    CareUnit,
    Certificate,
    CertificateRelation,
    Commission,
    Message,
    Person,
    QuestionForward,
    Send,
    Staff,
)
from .notices import fk_messages_stored

# writes the PDL record of a write into the write's own transaction (repository.pdl.append)
Audit = Optional[Callable[[Session], None]]

COLS = (Message.id, Message.certificate_id, Message.unit_id, Message.patient_pnr, Message.subject, Message.sender,
        Message.heading, Message.text, Message.sent_at, Message.last_answer_date, Message.in_reply_to,
        Message.reminder_of, Message.handled_at, Message.handled_by, Message.author_id, Message.author_name)
CHUNK = 1000

ANSWERED, DUPLICATE, NOT_OPEN = "ANSWERED", "DUPLICATE", "NOT_OPEN"
ASKED, FORWARDED = "ASKED", "FORWARDED"
#: the outbox kinds of the care unit's messages to FK (repository.outbox: ANSWER, QUESTION)
MESSAGE_SEND_KINDS = ("ANSWER", "QUESTION")


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
                    Message.subject.in_(rules.SUBJECTS), Message.sent_at >= since, Message.in_reply_to.is_(None),
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


def reply_context(session: Session, question_id: str) -> tuple[rules.Question | None, list[rules.Question]]:
    """A question and the messages that reply to it (for FK's answer through the API)."""
    row = session.execute(select(*COLS).where(Message.id == question_id)).first()
    if row is None:
        return None, []
    replies = session.execute(select(*COLS).where(Message.in_reply_to == question_id))
    return _question(row), [_question(r) for r in replies]


def certificate_facts(session: Session, certificate_id: str) -> CertificateFacts | None:
    row = session.execute(select(*_CERT_COLS).where(Certificate.id == certificate_id)).first()
    return _facts(row) if row is not None else None


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
    """The sends to FK of the care unit's messages (answers and own questions), by message id."""
    ids = list(answer_ids)
    if not ids:
        return {}
    return {s.payload_ref: s for s in session.scalars(select(Send).where(Send.kind.in_(MESSAGE_SEND_KINDS),
                                                                      Send.payload_ref.in_(ids)))
            if s.payload_ref is not None}


@contextmanager
def _write(session: Session) -> Iterator[None]:
    """A write of its own: the caller's read ends first (on SQLite the write's transaction starts here), and any
    error undoes all of it."""
    session.commit()
    try:
        yield
    except BaseException:
        session.rollback()
        raise


def _commit(session: Session, audit: Audit) -> None:
    """Commit the write with `audit`'s PDL record in the same transaction (none when `audit` is None)."""
    session.flush()
    if audit is not None:
        audit(session)
    session.commit()


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
    with _write(session):
        if not _handle(session, question.id, staff_id, now):
            session.rollback()
            return DUPLICATE if session.get(Message, answer_id) is not None else NOT_OPEN
        if is_answered(session, question.id):  # an answer loaded by the intake, question left unhandled
            session.rollback()
            return NOT_OPEN
        session.add(Message(id=answer_id, certificate_id=question.certificate_id, unit_id=question.unit_id,
                            patient_pnr=question.patient_pnr, subject=question.subject, sender=rules.CARE,
                            heading=question.heading, text=text, sent_at=now, in_reply_to=question.id,
                            author_id=staff_id))
        session.flush()
        session.add(Send(certificate_id=question.certificate_id, recipient=rules.FK, kind="ANSWER",
                         payload_ref=answer_id, idempotency_key=rules.idempotency_key(answer_id),
                         state="PENDING", attempts=0, requested_at=now, requested_by=staff_id, next_attempt_at=now))
        _commit(session, audit)
    return ANSWERED


def mark_handled(session: Session, question_id: str, staff_id: str, now: datetime, audit: Audit = None) -> bool:
    """Mark an open question (and its reminders) handled, with `audit`'s PDL record in the same transaction;
    False if it already was (nothing changed)."""
    with _write(session):
        done = _handle(session, question_id, staff_id, now)
        _commit(session, audit if done else None)
    return done


def undo_handled(session: Session, question_id: str, audit: Audit = None) -> bool:
    """Open a question again that staff marked handled (and the reminders handled with it), with `audit`'s
    PDL record in the same transaction. Never one handled by an answer or by a complementing certificate.
    False if nothing changed."""
    with _write(session):
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
        _commit(session, audit)
    return True


@dataclass(frozen=True)
class AnswerSource:
    """What the worker needs to post an answer."""

    answer: rules.Question
    question: rules.Question | None
    unit_name: str | None
    validation_person: bool
    author_name: str | None = None
    certificate_revoked: bool = False

    def payload(self) -> dict | None:
        """What is posted to FK (an answer, or the care unit's own question); None if there is nothing to post."""
        return rules.care_payload(self.answer, self.question, unit_name=self.unit_name, author_name=self.author_name)


def answer_sources(session: Session, answer_ids: Iterable[str]) -> dict[str, AnswerSource]:
    ids = list(dict.fromkeys(i for i in answer_ids if i))
    out: dict[str, AnswerSource] = {}
    for i in range(0, len(ids), CHUNK):
        rows = session.execute(select(*COLS, CareUnit.name.label("unit_name"), Person.validation_person,
                                      Staff.given_name, Staff.family_name, Certificate.revoked_at.label("c_revoked"))
                               .join(CareUnit, CareUnit.hsa_id == Message.unit_id)
                               .join(Certificate, Certificate.id == Message.certificate_id)
                               .outerjoin(Person, Person.personnummer == Message.patient_pnr)
                               .outerjoin(Staff, Staff.hsa_id == Message.author_id)
                               .where(Message.id.in_(ids[i:i + CHUNK]))).all()
        asked = {r.in_reply_to for r in rows if r.in_reply_to}
        asked_rows = session.execute(select(*COLS).where(Message.id.in_(asked)))
        questions = {q.id: q for q in (_question(r) for r in asked_rows)}
        for r in rows:
            a = _question(r)
            author = f"{r.given_name} {r.family_name}" if r.given_name is not None else None
            out[a.id] = AnswerSource(a, questions.get(a.in_reply_to or ""), r.unit_name, bool(r.validation_person),
                                     author, r.c_revoked is not None)
    return out


__all__ = ["ANSWERED", "ASKED", "DUPLICATE", "FORWARDED", "MESSAGE_SEND_KINDS", "NOT_OPEN", "AnswerSource",
           "Forward", "ask", "certificate_facts", "colleagues", "fk_received", "reply_context", "forward",
           "forwards_of", "store_messages", "waiting_unit_questions", "CertificateFacts", "ListedQuestion", "answer",
           "answer_send", "answer_sources", "certificate_messages", "complementing", "is_answered", "mark_handled",
           "one", "open_unit_questions", "sends_of_answers", "undo_handled"]


# --- where every message about a certificate is stored (the intake: `portal load` and the API) -------------

def store_messages(session: Session, records: list[dict]) -> None:
    """Store checked messages (questions, reminders, answers) in the caller's transaction: the one place an FK
    message enters the database, from the intake (`portal load`, the API's POST /questions: a question,
    reminder or komplettering request from FK, or FK's answer to the care unit's question). Records that refer
    to others come after them (the caller orders them). Anything that must happen when FK writes (a notice)
    belongs here, in the same transaction."""
    for rec in records:
        session.execute(insert(Message), [rec])
    fk_messages_stored(session, records)  # e-mail notices to the units FK wrote to (repository/notices.py)


# --- the care unit's own questions to FK ------------------------------------------------------------------

def fk_received(session: Session, certificate_id: str) -> bool:
    """Whether FK has the certificate: a delivered send through the portal, care's send (API or loader), or a
    message from FK about it."""
    delivered = session.scalar(select(Send.id).where(Send.certificate_id == certificate_id, Send.recipient == rules.FK,
                                                     Send.kind == "CERTIFICATE", Send.state == "DELIVERED").limit(1))
    by_care = session.scalar(select(CareSend.id).where(CareSend.certificate_id == certificate_id,
                                                       CareSend.recipient == rules.FK).limit(1))
    fk_wrote = session.scalar(select(Message.id).where(Message.certificate_id == certificate_id,
                                                       Message.sender == rules.FK).limit(1))
    return rules.fk_received(delivered_to_fk=delivered is not None, sent_by_care_to_fk=by_care is not None,
                             fk_wrote_about_it=fk_wrote is not None)


def ask(session: Session, *, question_id: str, certificate: CertificateFacts, subject: str, heading: str, text: str,
        staff_id: str, now: datetime, audit: Audit = None) -> str:
    """Store the care unit's question to FK and its send (kind QUESTION, a key derived from the question's id):
    all or nothing, with `audit`'s PDL record ("Skriva") in the same transaction. ASKED, or DUPLICATE (this very
    question exists: a double submit; nothing stored)."""
    with _write(session):
        if session.get(Message, question_id) is not None:
            session.rollback()
            return DUPLICATE
        session.add(Message(id=question_id, certificate_id=certificate.id, unit_id=certificate.unit_id,
                            patient_pnr=certificate.patient_pnr, subject=subject, sender=rules.CARE, heading=heading,
                            text=text, sent_at=now, author_id=staff_id))
        session.flush()
        session.add(Send(certificate_id=certificate.id, recipient=rules.FK, kind="QUESTION", payload_ref=question_id,
                         idempotency_key=rules.question_idempotency_key(question_id), state="PENDING", attempts=0,
                         requested_at=now, requested_by=staff_id, next_attempt_at=now))
        try:
            _commit(session, audit)
        except IntegrityError:  # the same id stored meanwhile by a racing submit
            session.rollback()
            if session.get(Message, question_id) is not None:
                session.rollback()
                return DUPLICATE
            raise
    return ASKED


def waiting_unit_questions(session: Session, unit_ids: list[str], provider_id: str,
                           today: date) -> list[ListedQuestion]:
    """The care unit's questions to FK of the last 90 days on these units' certificates of this provider (not
    revoked) that FK has not answered: "Väntar på svar från FK"; the oldest first. Whether the viewer may see
    each one is the caller's."""
    since = datetime.combine(today - timedelta(days=rules.QUESTION_WINDOW_DAYS), datetime.min.time())
    rows = session.execute(
        select(*COLS, *_CERT_COLS).join(Certificate, Certificate.id == Message.certificate_id)
        .where(Message.unit_id.in_(unit_ids), Message.handled_at.is_(None), Message.sender == rules.CARE,
               Message.in_reply_to.is_(None), Message.subject.in_(rules.ASK_SUBJECTS), Message.sent_at >= since,
               Certificate.provider_id == provider_id, Certificate.revoked_at.is_(None))).all()
    ids = [r.id for r in rows]
    answered: set[str] = set()
    for i in range(0, len(ids), CHUNK):
        answered |= set(session.scalars(select(Message.in_reply_to).where(
            Message.in_reply_to.in_(ids[i:i + CHUNK]), Message.sender == rules.FK)))
    out = [ListedQuestion(q, _facts(r), 0, None) for r in rows
           if rules.is_waiting(q := _question(r), today, q.id in answered)]
    return sorted(out, key=lambda lq: (lq.question.sent_at, lq.question.id))


def waiting_counts(session: Session, certificate_ids: Iterable[str], today: date,
                   unit_ids: Iterable[str]) -> dict[str, int]:
    """Per certificate id (of these): the care unit's questions to FK that FK has not answered, as
    `waiting_unit_questions` counts them ("Väntar på svar från FK (n)" in the ongoing list); certificates with none
    are left out."""
    ids, units = sorted(set(certificate_ids)), sorted(set(unit_ids))
    since = datetime.combine(today - timedelta(days=rules.QUESTION_WINDOW_DAYS), datetime.min.time())
    rows: list = []
    for i in range(0, len(ids), CHUNK):
        rows += session.execute(select(*COLS).where(
            Message.certificate_id.in_(ids[i:i + CHUNK]), Message.unit_id.in_(units), Message.sender == rules.CARE,
            Message.in_reply_to.is_(None), Message.subject.in_(rules.ASK_SUBJECTS), Message.handled_at.is_(None),
            Message.sent_at >= since)).all()
    asked = [r.id for r in rows]
    answered: set[str] = set()
    for i in range(0, len(asked), CHUNK):
        answered |= set(session.scalars(select(Message.in_reply_to).where(
            Message.in_reply_to.in_(asked[i:i + CHUNK]), Message.sender == rules.FK)))
    counts: dict[str, int] = {}
    for r in rows:
        if rules.is_waiting(q := _question(r), today, q.id in answered):
            counts[q.certificate_id] = counts.get(q.certificate_id, 0) + 1
    return counts


# --- forwarding ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Forward:
    """Where a question is now: forwarded to `to` by `by` at `at`."""

    question_id: str
    to: str
    by: str
    at: datetime


def forwards_of(session: Session, question_ids: Iterable[str]) -> dict[str, Forward]:
    """The newest forwarding of each of these questions (none: not forwarded)."""
    ids = list(dict.fromkeys(question_ids))
    out: dict[str, Forward] = {}
    for i in range(0, len(ids), CHUNK):
        for r in session.execute(select(QuestionForward).where(QuestionForward.message_id.in_(ids[i:i + CHUNK]))
                                 .order_by(QuestionForward.forwarded_at, QuestionForward.id)).scalars():
            out[r.message_id] = Forward(r.message_id, r.to_staff_id, r.by_staff_id, r.forwarded_at)
    return out


def forward(session: Session, *, question_id: str, unit_id: str, to_staff_id: str, by_staff_id: str, now: datetime,
            audit: Audit = None) -> bool:
    """Forward the question to a colleague, with `audit`'s PDL record in the same transaction. False if it is
    already with that colleague (nothing stored)."""
    with _write(session):
        current = forwards_of(session, [question_id]).get(question_id)
        if current is not None and current.to == to_staff_id:
            session.rollback()
            return False
        session.add(QuestionForward(message_id=question_id, unit_id=unit_id, to_staff_id=to_staff_id,
                                    by_staff_id=by_staff_id, forwarded_at=now))
        _commit(session, audit)
    return True


def colleagues(session: Session, unit_id: str, today: date) -> list[rules.Colleague]:
    """The staff with an active "Vård och behandling" commission on the unit, with their Rehabstöd role there
    (the HSA directory's data, `domain.access.role_on_unit`)."""
    from ..domain import access

    commissioned = select(Commission.staff_id).where(
        Commission.unit_id == unit_id, Commission.purpose == access.PURPOSE_CARE,
        (Commission.valid_from.is_(None)) | (Commission.valid_from <= today),
        (Commission.valid_to.is_(None)) | (Commission.valid_to >= today))
    rows = session.scalars(select(Staff).where(Staff.hsa_id.in_(commissioned))).all()
    out = []
    for staff in rows:
        info = access.StaffInfo(
            hsa_id=staff.hsa_id, name=staff.name, title=staff.title, professions=tuple(staff.professions or ()),
            position_codes=tuple((p["code"], p.get("group_prescription_code")) for p in staff.position_codes or ()),
            system_roles=tuple(staff.system_roles or ()), commissions=())
        out.append(rules.Colleague(staff.hsa_id, staff.name, access.role_on_unit(info, unit_id)))
    return out
