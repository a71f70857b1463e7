"""FK's questions (ärenden) in Rehabstöd: which are open, which may be answered or marked handled,
what an answer may say, how a question is grouped with its reminders and answers, and what is posted
to Försäkringskassan. Pure: plain data in, plain data out (no Flask, no SQL).

The rules (domain.md, "Rehabstöd"):

- A question is FK's (sender ``FK``) and has a subject: KOMPLT "Komplettering" or one of the
  administrative AVSTMN "Avstämningsmöte", KONTKT "Kontakt", OVRIGT "Övrigt". PAMINN "Påminnelse" is
  a reminder of another question (``reminder_of``), never a question of its own.
- *Open* (unanswered): from FK, not a reminder, sent in the last 90 days, not answered (no CARE message
  ``in_reply_to`` it) and not handled. The same rule as the list's counts (``rehab.question_counts``).
- An administrative question may be answered in place with a text of 1–2000 characters, or marked
  handled (and that undone). Answering also handles it. A komplettering cannot be answered with text:
  it needs a new certificate that complements the old one; when that arrives (intake), the request
  and its reminders are handled (``handled_by`` = ``COMPLEMENTED``).
- Reminders are handled together with their question (and undone with it).
- Who sees a question is who may see its certificate's patient (``rehab.may_see_patient``), and a
  doctor only questions on certificates they signed or of their own sick-leave cases
  (``doctor_may_see``).

The conversation in the other direction (issue 17):

- The care unit asks FK (sender ``CARE``, no ``in_reply_to``): an administrative subject (AVSTMN, KONTKT,
  OVRIGT), a heading of 1–200 and a text of 1–2000 characters. Only a coordinator or the certificate's own
  doctor asks, only about a certificate FK has received (``ask_refusal``), never a revoked one, never about
  a valideringsperson. It goes to FK through the outbox (kind QUESTION, key ``question-<id>``).
- FK answers it (sender ``FK``, ``in_reply_to`` our question; ``reply_refusal``). Until then the question
  *waits for FK* (``is_waiting``): the lists count it as "Väntar på svar från FK (n)".
- The whole conversation about a certificate, both directions, in time order: ``conversation``.
- A question can be forwarded to a colleague on the unit who may see it (``forward_candidates``).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from .patient_access import PersonFacts, Viewer, may_see_patient

# --- FK questions: the subjects, and the unanswered ones per certificate ---------------------------

QUESTION_WINDOW_DAYS = 90
KOMPLETTERING_SUBJECTS = frozenset({"KOMPLT"})
ADMINISTRATIVE_SUBJECTS = frozenset({"AVSTMN", "KONTKT", "OVRIGT"})
REMINDER = "PAMINN"


def question_counts(messages: Iterable[Mapping[str, Any]],
                    today: date) -> dict[str, tuple[int, int]]:
    """Unanswered FK questions per certificate id: (komplettering, administrative).

    Counted: sent by FK (not CARE), on or after today - 90 days, not answered and not handled;
    reminders (PAMINN) and unknown subjects are not counted. KOMPLT is komplettering;
    AVSTMN, KONTKT and OVRIGT are administrative. Certificates without any are left out.
    """
    since = today - timedelta(days=QUESTION_WINDOW_DAYS)
    counts: dict[str, list[int]] = {}
    for m in messages:
        if (m.get("sender") != "FK" or m.get("answered") or m.get("handled_at") is not None
                or m.get("in_reply_to")):  # FK's answer to the care unit's question is not a question
            continue
        sent = m.get("sent_at")
        sent_day = sent.date() if isinstance(sent, datetime) else sent
        if not isinstance(sent_day, date) or sent_day < since:
            continue
        subject = m.get("subject")
        if subject in KOMPLETTERING_SUBJECTS:
            index = 0
        elif subject in ADMINISTRATIVE_SUBJECTS:
            index = 1
        else:  # PAMINN and anything unknown
            continue
        counts.setdefault(m["certificate_id"], [0, 0])[index] += 1
    return {cid: (k, a) for cid, (k, a) in counts.items()}


__all__ = [
    "ADMINISTRATIVE_SUBJECTS", "KOMPLETTERING_SUBJECTS", "QUESTION_WINDOW_DAYS", "REMINDER", "question_counts",
    "ANSWER_MAX", "COMPLEMENTED", "SUBJECTS", "Question", "Thread", "answer_payload", "answer_refusal", "case_counts",
    "doctor_may_see", "filter_subjects", "handle_refusal", "idempotency_key", "is_open", "may_see", "open_questions",
    "parse_subjects",
    "thread", "undo_refusal", "validate_answer",
]

#: The subjects of questions, in the order the filter shows them.
SUBJECTS: tuple[str, ...] = ("KOMPLT", "AVSTMN", "KONTKT", "OVRIGT")
FK, CARE = "FK", "CARE"
#: ``handled_by`` of a komplettering handled by a complementing certificate (set by the intake).
COMPLEMENTED = "KOMPLETTERING"
ANSWER_MIN, ANSWER_MAX = 1, 2000  # characters, after trimming

# refusal / error codes (the blueprint turns them into words)
MISSING = "missing"
TOO_LONG = "too_long"
UNKNOWN_SUBJECT = "unknown_subject"
NEEDS_CERTIFICATE = "needs_certificate"  # a komplettering: answered by a new certificate, not by text
ALREADY_ANSWERED = "already_answered"
ALREADY_HANDLED = "already_handled"
NOT_HANDLED = "not_handled"
NOT_UNDOABLE = "not_undoable"  # handled by an answer or by a complementing certificate


@dataclass(frozen=True)
class Question:
    """One message about a certificate (a question, a reminder or an answer), as plain data."""

    id: str
    certificate_id: str
    subject: str
    sender: str
    sent_at: datetime
    text: str = ""
    heading: str | None = None
    unit_id: str | None = None
    patient_pnr: str | None = None
    last_answer_date: date | None = None
    in_reply_to: str | None = None
    reminder_of: str | None = None
    handled_at: datetime | None = None
    handled_by: str | None = None
    author_id: str | None = None
    author_name: str | None = None

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Question:
        return cls(**{k: row.get(k) for k in cls.__dataclass_fields__ if k in row})  # type: ignore[arg-type]

    @property
    def is_question(self) -> bool:
        """FK's question (not a reminder, not the care unit's answer, not FK's answer to our question)."""
        return self.sender == FK and self.subject in SUBJECTS and self.in_reply_to is None

    @property
    def is_care_question(self) -> bool:
        """The care unit's own question to FK."""
        return self.sender == CARE and self.subject in ADMINISTRATIVE_SUBJECTS and self.in_reply_to is None

    @property
    def is_fk_answer(self) -> bool:
        """FK's answer to the care unit's question."""
        return self.sender == FK and self.in_reply_to is not None and self.subject != REMINDER

    @property
    def is_root(self) -> bool:
        """A question of either side: what a page of its own and a thread start from."""
        return self.is_question or self.is_care_question

    @property
    def is_reminder(self) -> bool:
        return self.sender == FK and self.subject == REMINDER

    @property
    def is_komplettering(self) -> bool:
        return self.subject in KOMPLETTERING_SUBJECTS

    @property
    def is_administrative(self) -> bool:
        return self.subject in ADMINISTRATIVE_SUBJECTS

    @property
    def complemented(self) -> bool:
        return self.handled_at is not None and self.handled_by == COMPLEMENTED


def is_open(q: Question, today: date, answered: bool) -> bool:
    """Unanswered: FK's question, the last 90 days, not answered, not handled."""
    if not q.is_question or answered or q.handled_at is not None:
        return False
    return q.sent_at.date() >= today - timedelta(days=QUESTION_WINDOW_DAYS)


def reachable(q: Question, today: date) -> bool:
    """Whether a question has a page of its own: FK's question (not a reminder) or the care unit's own question
    to FK, of the last 90 days, open, answered or handled (the page then says so). Older questions are the
    certificate's history, shown on a newer question's page, not a way into the unit's every question ever
    asked."""
    return q.is_root and q.sent_at.date() >= today - timedelta(days=QUESTION_WINDOW_DAYS)


def is_waiting(q: Question, today: date, answered: bool) -> bool:
    """The care unit's question that FK has not answered yet, of the last 90 days ("Väntar på svar från FK")."""
    if not q.is_care_question or answered or q.handled_at is not None:
        return False
    return q.sent_at.date() >= today - timedelta(days=QUESTION_WINDOW_DAYS)


def open_questions(questions: Iterable[Question], answered_ids: Iterable[str], today: date) -> list[Question]:
    """The open ones, the oldest first (the one waiting longest is the one to act on)."""
    answered = set(answered_ids)
    return sorted((q for q in questions if is_open(q, today, q.id in answered)), key=lambda q: (q.sent_at, q.id))


def parse_subjects(values: Sequence[str]) -> tuple[frozenset[str], list[tuple[str, str]]]:
    """The subject filter (GET ``amne``, several values): the known subjects, and an error for any other."""
    chosen = {v.strip().upper() for v in values if v.strip()}
    unknown = chosen - set(SUBJECTS)
    return frozenset(chosen & set(SUBJECTS)), ([("amne", UNKNOWN_SUBJECT)] if unknown else [])


def filter_subjects(questions: Iterable[Question], subjects: frozenset[str]) -> list[Question]:
    """The questions of these subjects (all when none is chosen)."""
    return [q for q in questions if not subjects or q.subject in subjects]


def doctor_may_see(certificate_staff_id: str | None, certificate_id: str, doctor_id: str,
                   own_case_certificate_ids: Iterable[str]) -> bool:
    """A doctor sees the questions on certificates they signed or of their own sick-leave cases."""
    return certificate_staff_id == doctor_id or certificate_id in set(own_case_certificate_ids)


def may_see(person: PersonFacts | None, viewer: Viewer, *, certificate_staff_id: str | None,
            certificate_id: str, own_case_certificate_ids: Iterable[str] = ()) -> bool:
    """Whether the viewer may see a question on this certificate of this patient (None: unknown to
    PU-tjänsten). The patient rules are the list's; a doctor also needs the certificate to be theirs."""
    if not may_see_patient(person, viewer):
        return False
    if viewer.is_coordinator:
        return True
    return doctor_may_see(certificate_staff_id, certificate_id, viewer.hsa_id, own_case_certificate_ids)


def case_counts(case_certificate_ids: Iterable[str], open_ones: Iterable[Question]) -> dict[str, int]:
    """A case's open questions as the lists show them: {"komplettering": n, "administrative": n}."""
    ids = set(case_certificate_ids)
    mine = [q for q in open_ones if q.certificate_id in ids and q.is_question]
    return {"komplettering": sum(1 for q in mine if q.is_komplettering),
            "administrative": sum(1 for q in mine if q.is_administrative)}


def validate_answer(text: str | None) -> tuple[str, list[tuple[str, str]]]:
    """The answer's text, trimmed (line breaks kept, Windows line ends made Unix), and errors on ``svar``."""
    clean = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(clean) < ANSWER_MIN:
        return clean, [("svar", MISSING)]
    if len(clean) > ANSWER_MAX:
        return clean, [("svar", TOO_LONG)]
    return clean, []


def answer_refusal(q: Question, answered: bool) -> str | None:
    """None if the care unit may answer the question with text now; otherwise why not."""
    if not q.is_question:
        return UNKNOWN_SUBJECT
    if q.is_komplettering:
        return NEEDS_CERTIFICATE
    if answered:
        return ALREADY_ANSWERED
    if q.handled_at is not None:
        return ALREADY_HANDLED
    return None


def handle_refusal(q: Question, answered: bool) -> str | None:
    """None if staff may mark the question handled now (administrative questions only: a komplettering
    is handled by the complementing certificate)."""
    if not q.is_question:
        return UNKNOWN_SUBJECT
    if q.is_komplettering:
        return NEEDS_CERTIFICATE
    if answered:
        return ALREADY_ANSWERED
    if q.handled_at is not None:
        return ALREADY_HANDLED
    return None


def undo_refusal(q: Question, answered: bool) -> str | None:
    """None if "handled" may be undone: it was marked by staff, not by an answer or a new certificate."""
    if not q.is_question:
        return UNKNOWN_SUBJECT
    if q.handled_at is None:
        return NOT_HANDLED
    if answered or q.handled_by == COMPLEMENTED:
        return NOT_UNDOABLE
    return None


@dataclass(frozen=True)
class Thread:
    """A question with its reminders and the care unit's answers (oldest first), and the other
    questions about the same certificate (``earlier``: each a Thread too, oldest first)."""

    question: Question
    reminders: tuple[Question, ...] = ()
    answers: tuple[Question, ...] = ()
    earlier: tuple[Thread, ...] = field(default=())

    @property
    def answered(self) -> bool:
        return bool(self.answers)


def _one(question: Question, messages: Sequence[Question]) -> Thread:
    """A question with its reminders and its answers (from the other side: the care unit's answers to FK's
    question, FK's answers to the care unit's question)."""
    def key(m: Question):
        return (m.sent_at, m.id)

    return Thread(question,
                  tuple(sorted((m for m in messages if m.is_reminder and m.reminder_of == question.id), key=key)),
                  tuple(sorted((m for m in messages if m.in_reply_to == question.id and m.sender != question.sender
                                and m.subject != REMINDER), key=key)))


def thread(question: Question, messages: Iterable[Question]) -> Thread:
    """The question's thread from all the messages about its certificate (``earlier``: the other questions of
    either side)."""
    all_messages = list(messages)
    others = sorted((m for m in all_messages if m.is_root and m.id != question.id), key=lambda m: (m.sent_at, m.id))
    one = _one(question, all_messages)
    return Thread(one.question, one.reminders, one.answers, tuple(_one(m, all_messages) for m in others))


def answer_payload(answer: Question, question: Question, *, unit_name: str | None = None) -> dict:
    """What is posted to Försäkringskassan for an answer (in the body only, never in a URL)."""
    return {
        "kind": "ANSWER",
        "message_id": answer.id,
        "certificate_id": answer.certificate_id,
        "in_reply_to": answer.in_reply_to,
        "subject": question.subject,
        "heading": question.heading,
        "text": answer.text,
        "sent_at": answer.sent_at.isoformat(),
        "recipient": FK,
        "unit": {"id": answer.unit_id, "name": unit_name},
    }


def idempotency_key(answer_id: str) -> str:
    """The stable key an answer's send is posted with: derived from the answer's id, so the answer can
    never become two sends, and a repeated delivery is recognised by FK."""
    return f"answer-{answer_id}"


# --- the care unit's own questions to FK (issue 17) ------------------------------------------------------

#: FK's limits for a question from care (stated on the form): heading and text, in characters after trimming
HEADING_MIN, HEADING_MAX = 1, 200
QUESTION_TEXT_MIN, QUESTION_TEXT_MAX = 1, 2000
#: the subjects care may ask about (a komplettering is FK's request, never care's question)
ASK_SUBJECTS: tuple[str, ...] = ("AVSTMN", "KONTKT", "OVRIGT")

# refusal codes for asking (the blueprint turns them into words)
REVOKED = "revoked"
NOT_RECEIVED = "not_received"  # FK never received the certificate
VALIDATION_PERSON = "validation_person"
NOT_ASKER = "not_asker"  # a doctor who did not sign the certificate


def _clean(value: str | None) -> str:
    return (value or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def validate_question(subject: str | None, heading: str | None, text: str | None
                      ) -> tuple[tuple[str, str, str], list[tuple[str, str]]]:
    """The question's subject, heading (one line, spaces collapsed) and text (line breaks kept), and errors on
    the form's fields ``amne``, ``rubrik``, ``text`` (in that order)."""
    subject = (subject or "").strip().upper()
    clean_heading = " ".join((heading or "").split())
    clean_text = _clean(text)
    errors: list[tuple[str, str]] = []
    if subject not in ASK_SUBJECTS:
        errors.append(("amne", MISSING if not subject else UNKNOWN_SUBJECT))
    if len(clean_heading) < HEADING_MIN:
        errors.append(("rubrik", MISSING))
    elif len(clean_heading) > HEADING_MAX:
        errors.append(("rubrik", TOO_LONG))
    if len(clean_text) < QUESTION_TEXT_MIN:
        errors.append(("text", MISSING))
    elif len(clean_text) > QUESTION_TEXT_MAX:
        errors.append(("text", TOO_LONG))
    return (subject, clean_heading, clean_text), errors


def fk_received(*, delivered_to_fk: bool, sent_by_care_to_fk: bool, fk_wrote_about_it: bool) -> bool:
    """FK has the certificate: the citizen's send through the portal was delivered, care sent it (reported
    through the API or the loader), or FK itself has written about it."""
    return delivered_to_fk or sent_by_care_to_fk or fk_wrote_about_it


def ask_refusal(*, revoked: bool, recipient: str | None, received: bool, validation_person: bool,
                is_coordinator: bool, is_signer: bool) -> str | None:
    """None if this user may ask FK about the certificate now; otherwise why not (the first reason that holds:
    a valideringsperson first: its page then shows nothing about the patient; then who asks, then the
    certificate)."""
    if validation_person:
        return VALIDATION_PERSON
    if not is_coordinator and not is_signer:
        return NOT_ASKER
    if revoked:
        return REVOKED
    if recipient != FK or not received:
        return NOT_RECEIVED
    return None


def question_payload(q: Question, *, unit_name: str | None = None, author_name: str | None = None) -> dict:
    """What is posted to Försäkringskassan for the care unit's own question (in the body, never in a URL)."""
    return {
        "kind": "QUESTION",
        "message_id": q.id,
        "certificate_id": q.certificate_id,
        "subject": q.subject,
        "heading": q.heading,
        "text": q.text,
        "sent_at": q.sent_at.isoformat(),
        "recipient": FK,
        "unit": {"id": q.unit_id, "name": unit_name},
        "author": {"id": q.author_id, "name": author_name},
    }


def care_payload(message: Question, question: Question | None, *, unit_name: str | None = None,
                 author_name: str | None = None) -> dict | None:
    """The post for a CARE message: an answer to FK's question, or the care unit's own question; None if it is
    neither (an answer whose question is gone)."""
    if message.is_care_question:
        return question_payload(message, unit_name=unit_name, author_name=author_name)
    if question is not None and message.in_reply_to == question.id:
        return answer_payload(message, question, unit_name=unit_name)
    return None


def question_idempotency_key(question_id: str) -> str:
    """The stable key of the care unit's question's send: derived from its id (one question, one send)."""
    return f"question-{question_id}"


# FK's answer to the care unit's question, through the API (issue 7)
NOT_A_CARE_QUESTION = "not_a_care_question"
ALREADY_ANSWERED_BY_FK = "already_answered_by_fk"
OTHER_SUBJECT = "other_subject"


def reply_refusal(reply_id: str, subject: str | None, referenced: Question | None,
                  existing_answers: Iterable[Question]) -> str | None:
    """None if FK's message may be stored as FK's answer to ``referenced``: a question the care unit asked (not
    FK's own question, not an answer), with the question's subject, and not answered by FK already with
    another message (the same id again is the same delivery: allowed, stored once)."""
    if referenced is None or not referenced.is_care_question:
        return NOT_A_CARE_QUESTION
    if subject != referenced.subject:
        return OTHER_SUBJECT
    if any(a.sender == FK and a.id != reply_id for a in existing_answers):
        return ALREADY_ANSWERED_BY_FK
    return None


# --- the whole conversation about a certificate ----------------------------------------------------------

FK_QUESTION, FK_REMINDER, FK_ANSWER = "fk_question", "fk_reminder", "fk_answer"
CARE_QUESTION, CARE_ANSWER = "care_question", "care_answer"


@dataclass(frozen=True)
class Entry:
    """One message in the conversation: what it is, and the question it belongs to (``root``)."""

    message: Question
    kind: str
    root: str

    @property
    def from_fk(self) -> bool:
        return self.message.sender == FK


def entry_kind(m: Question) -> str | None:
    if m.is_reminder:
        return FK_REMINDER
    if m.is_question:
        return FK_QUESTION
    if m.is_care_question:
        return CARE_QUESTION
    if m.is_fk_answer:
        return FK_ANSWER
    if m.sender == CARE and m.in_reply_to is not None:
        return CARE_ANSWER
    return None


def conversation(messages: Iterable[Question]) -> list[Entry]:
    """Every message about a certificate, both directions, in the order they were written (then by id)."""
    out = []
    for m in sorted(messages, key=lambda m: (m.sent_at, m.id)):
        kind = entry_kind(m)
        if kind is not None:
            out.append(Entry(m, kind, m.reminder_of or m.in_reply_to or m.id))
    return out


# --- forwarding to a colleague -------------------------------------------------------------------------

@dataclass(frozen=True)
class Colleague:
    hsa_id: str
    name: str
    role: str | None  # domain.access.REHABKOORDINATOR | LAKARE | None (no Rehabstöd access on the unit)


def forward_candidates(colleagues: Iterable[Colleague], *, me: str, certificate_staff_id: str) -> list[Colleague]:
    """Who a question may be forwarded to: colleagues on the unit who would see it there (a rehab coordinator,
    or the certificate's own doctor), never oneself; by name."""
    from .access import LAKARE, REHABKOORDINATOR

    out = [c for c in colleagues if c.hsa_id != me and (
        c.role == REHABKOORDINATOR or (c.role == LAKARE and c.hsa_id == certificate_staff_id))]
    return sorted(out, key=lambda c: (c.name.casefold(), c.hsa_id))


__all__ += ["ASK_SUBJECTS", "HEADING_MAX", "QUESTION_TEXT_MAX", "Colleague", "Entry", "ask_refusal", "care_payload",
            "conversation", "entry_kind", "fk_received", "forward_candidates", "is_waiting", "question_idempotency_key",
            "question_payload", "reachable", "reply_refusal", "validate_question"]
