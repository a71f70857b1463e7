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
        if m.get("sender") != "FK" or m.get("answered") or m.get("handled_at") is not None:
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

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> Question:
        return cls(**{k: row.get(k) for k in cls.__dataclass_fields__ if k in row})  # type: ignore[arg-type]

    @property
    def is_question(self) -> bool:
        """FK's question (not a reminder, not the care unit's answer)."""
        return self.sender == FK and self.subject in SUBJECTS

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
    """Whether a question has a page of its own: FK's question (not a reminder) of the last 90 days, open,
    answered or handled (the page then says so). Older questions are the certificate's history, shown on
    a newer question's page, not a way into the unit's every question ever asked."""
    return q.is_question and q.sent_at.date() >= today - timedelta(days=QUESTION_WINDOW_DAYS)


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
    def key(m: Question):
        return (m.sent_at, m.id)

    return Thread(question,
                  tuple(sorted((m for m in messages if m.is_reminder and m.reminder_of == question.id), key=key)),
                  tuple(sorted((m for m in messages if m.sender == CARE and m.in_reply_to == question.id), key=key)))


def thread(question: Question, messages: Iterable[Question]) -> Thread:
    """The question's thread from all the messages about its certificate."""
    all_messages = list(messages)
    others = sorted((m for m in all_messages if m.is_question and m.id != question.id), key=lambda m: (m.sent_at, m.id))
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
