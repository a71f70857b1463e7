"""E-mail notices when Försäkringskassan writes (issue 17, item 3): the rules, pure (no Flask, no SQL).

A care unit may name one address in its settings (a rehab coordinator sets it; `validate_address`). When a
question, a reminder or an answer from FK to the unit's own question arrives, the unit is told by e-mail (queued in
the same transaction as the message: repository/notices.py; sent by the delivery worker: portal/notices.py).

The mail never holds personal data: no patient name, personnummer, diagnosis, certificate or question text, not
even the subject of FK's question. Only that FK has written, to which unit, how many messages, and a link to
Rehabstöd's questions (`compose`). Staff are Swedish: the text is Swedish, with an English copy under it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email

# what FK wrote (mail_notices.kind)
QUESTION = "QUESTION"  # a new question (komplettering or administrative)
REMINDER = "REMINDER"  # a reminder (PAMINN) of an earlier question
ANSWER = "ANSWER"  # FK's answer to a question the unit asked
KINDS = (QUESTION, REMINDER, ANSWER)

# how a notice that was not sent ended (mail_notices.failure)
GAVE_UP = "GAVE_UP"  # every attempt failed (MAIL_MAX_ATTEMPTS)
REJECTED = "REJECTED"  # the mail server refused it for good (a 5xx answer)
NO_ADDRESS = "NO_ADDRESS"  # the unit removed its address before the notice went

ADDRESS_MAX = 254  # RFC 5321's longest path, less the angle brackets
INVALID = "INVALID"  # validate_address's error code

QUESTIONS_PATH = "/rehabstod/fragor"  # Rehabstöd's list of FK's questions (rehab.questions)


def kind_of(sender: str, *, in_reply_to: str | None, reminder_of: str | None, subject: str | None) -> str | None:
    """What a stored message is, for a notice: QUESTION, REMINDER or ANSWER when FK wrote it; None when care did
    (care's questions and answers tell nobody)."""
    if sender != "FK":
        return None
    if reminder_of or subject == "PAMINN":
        return REMINDER
    if in_reply_to:
        return ANSWER
    return QUESTION


def validate_address(raw: str | None) -> tuple[str | None, str | None]:
    """The notice address form field: (the address to store, None) or (None, INVALID). Empty means no address
    (notices stop). One plain address (no name, no list), ASCII only so any mail server takes it, its domain
    with a dot; checked by email-validator without asking DNS (a unit's internal domain may not resolve here).
    The domain is stored as email-validator normalises it (lower case); the local part as written."""
    value = " ".join((raw or "").split())
    if not value:
        return None, None
    if len(value) > ADDRESS_MAX:
        return None, INVALID
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False,
                                 allow_display_name=False, allow_quoted_local=False, allow_domain_literal=False)
    except EmailNotValidError:
        return None, INVALID
    return checked.normalized, None


def transport_address(address: str) -> str:
    """The stored address as the mail server gets it: an internationalised domain in its ASCII form
    (räksmörgås.se -> xn--rksmrgs-5wao1o.se), so the server needs no SMTPUTF8."""
    try:
        checked = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return address
    return checked.ascii_email or address


@dataclass(frozen=True)
class Mail:
    """A notice as sent: subject and plain-text body (Swedish, then English)."""

    subject: str
    body: str


_SUBJECTS = {
    QUESTION: ("Ny fråga från Försäkringskassan på {unit}", "{n} nya frågor från Försäkringskassan på {unit}"),
    REMINDER: ("Påminnelse från Försäkringskassan på {unit}", "{n} påminnelser från Försäkringskassan på {unit}"),
    ANSWER: ("Nytt svar från Försäkringskassan på {unit}", "{n} nya svar från Försäkringskassan på {unit}"),
}
_LEADS_SV = {
    QUESTION: ("Försäkringskassan har skickat en ny fråga till {unit}.",
               "Försäkringskassan har skickat {n} nya frågor till {unit}."),
    REMINDER: ("Försäkringskassan har skickat en påminnelse om en fråga till {unit}.",
               "Försäkringskassan har skickat {n} påminnelser om frågor till {unit}."),
    ANSWER: ("Försäkringskassan har svarat på en fråga från {unit}.",
             "Försäkringskassan har svarat på {n} frågor från {unit}."),
}
_FK_EN = "Försäkringskassan (the Swedish Social Insurance Agency)"
_LEADS_EN = {
    QUESTION: (_FK_EN + " has sent a new question to {unit}.", _FK_EN + " has sent {n} new questions to {unit}."),
    REMINDER: (_FK_EN + " has sent a reminder of a question to {unit}.",
               _FK_EN + " has sent {n} reminders of questions to {unit}."),
    ANSWER: (_FK_EN + " has answered a question from {unit}.", _FK_EN + " has answered {n} questions from {unit}."),
}


def _one_line(text: str, limit: int = 200) -> str:
    """A unit name as it may stand in a header: one line, no control characters, not too long."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:limit]


def questions_link(public_base_url: str) -> str:
    return public_base_url.rstrip("/") + QUESTIONS_PATH


def compose(kind: str, count: int, unit_name: str, link: str) -> Mail:
    """The notice: which unit FK wrote to, what (a question, a reminder, an answer), how many, and where to read
    it. Nothing about the patient or the certificate."""
    unit = _one_line(unit_name) or "vårdenheten"
    n = max(int(count), 1)
    pick = 0 if n == 1 else 1
    subject = _SUBJECTS[kind][pick].format(n=n, unit=unit)
    body = "\n".join([
        _LEADS_SV[kind][pick].format(n=n, unit=unit),
        "",
        "Logga in i Rehabstöd för att läsa " + ("den:" if n == 1 else "dem:"),
        link,
        "",
        "Meddelandet innehåller inga uppgifter om patienten. Det skickas automatiskt av Intygsportalen och går "
        "inte att svara på. Vill ni inte längre få meddelandet kan en rehabkoordinator ta bort adressen under "
        "Inställningar i Rehabstöd.",
        "",
        "-- English --",
        "",
        _LEADS_EN[kind][pick].format(n=n, unit=unit),
        "Log in to Rehabstöd to read " + ("it:" if n == 1 else "them:"),
        link,
        "",
        "This message holds no information about the patient. It is sent automatically by Intygsportalen; replies "
        "are not read. A rehab coordinator can remove the address under Settings in Rehabstöd.",
        "",
    ])
    return Mail(subject=subject, body=body)


def due_after_coalescing(now: datetime, window_seconds: float) -> datetime:
    """When a new notice is first due: after the coalescing window, during which more notices to the unit of the
    same kind join it (one mail for a batch of questions rather than one each)."""
    return now + timedelta(seconds=max(float(window_seconds), 0.0))


def should_give_up(attempts: int, max_attempts: int) -> bool:
    """A notice whose `attempts`-th attempt failed is given up when it has had `max_attempts`."""
    return attempts >= max(int(max_attempts), 1)
