"""E-mail notices when Försäkringskassan writes (issue 17): queued with the message (repository/notices.py,
`fk_wrote`), sent by the delivery worker (`deliver_due`, one step of worker.deliver_due's pass).

Each pass claims the due notices (a lease: several workers never send the same one), opens one connection to
the mail server, and sends each as a short mail with no patient data (domain/notices.py `compose`) to the
address the unit has now. The outcome is recorded at once:
- sent: SENT, with the address it went to;
- the server is down, went away, or refused the login: this and the rest of the batch are tried again after
  the backoff (30 s, 1 min, 2 min, … at most 30 min, with jitter), and given up (FAILED, GAVE_UP) after
  MAIL_MAX_ATTEMPTS attempts;
- the server refused the recipient for good (5xx): FAILED, REJECTED, not tried again;
- the unit removed its address meanwhile: FAILED, NO_ADDRESS, not sent.
A worker that dies after the server took a mail but before recording it sends it again when the lease ends: the
Message-ID stays the same (`message_id`), so a mail client can tell the copy.

Where mail goes (`transport`): app.extensions["mail_transport"] if set (tests), SMTP when MAIL_SMTP_HOST is set
(MAIL_SMTP_PORT, MAIL_SMTP_USER, MAIL_SMTP_PASSWORD, MAIL_SMTP_STARTTLS, MAIL_TIMEOUT), else the embedded
default's mailbox file MAIL_MBOX_PATH (instance/mail/outbox.mbox). From: MAIL_FROM.
"""
from __future__ import annotations

import logging
import random as _random
import threading
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Flask

from . import db, observability
from .adapters.mail import MailboxFile, MailFailed, SmtpMail
from .config import DEFAULTS_MAIL_FROM, INSTANCE
from .domain import notices as rules
from .domain import sending
from .repository import notices as store

log = logging.getLogger(__name__)
TZ = ZoneInfo("Europe/Stockholm")
DEFAULT_FROM = DEFAULTS_MAIL_FROM


def transport(app: Flask):
    given = app.extensions.get("mail_transport")
    if given is not None:
        return given
    host = app.config.get("MAIL_SMTP_HOST")
    if host:
        return SmtpMail(host, int(app.config.get("MAIL_SMTP_PORT") or 25), user=app.config.get("MAIL_SMTP_USER"),
                        password=app.config.get("MAIL_SMTP_PASSWORD"),
                        starttls=bool(app.config.get("MAIL_SMTP_STARTTLS")),
                        timeout=float(app.config.get("MAIL_TIMEOUT", 10)))
    return MailboxFile(mbox_path(app))


def mbox_path(app: Flask) -> str:
    return str(app.config.get("MAIL_MBOX_PATH") or INSTANCE / "mail" / "outbox.mbox")


def message_id(app: Flask, notice_id: int) -> str:
    """The same for every attempt of a notice (a copy sent after a crash is recognisable)."""
    host = urlsplit(app.config.get("PUBLIC_BASE_URL") or "").hostname or "intygsportalen.invalid"
    return f"<notice-{notice_id}@{host}>"


def build_message(app: Flask, notice: store.Due, address: str, now: datetime) -> EmailMessage:
    mail = rules.compose(notice.kind, notice.count, notice.unit_name,
                         rules.questions_link(app.config.get("PUBLIC_BASE_URL") or "http://127.0.0.1:5000"))
    message = EmailMessage()
    message["From"] = app.config.get("MAIL_FROM") or DEFAULT_FROM
    message["To"] = rules.transport_address(address)
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(now.replace(tzinfo=TZ))
    message["Message-ID"] = message_id(app, notice.id)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office answers
    message["X-Auto-Response-Suppress"] = "All"
    message["Content-Language"] = "sv, en"
    message.set_content(mail.body)
    return message


def deliver_due(app: Flask, now: datetime | None = None, *, stop: threading.Event | None = None,
                random: sending.Random | None = None) -> dict[str, int]:
    """One pass over the due notices (see the module's docstring). Returns counts: sent, retried, failed (given
    up, rejected or no address), and released (left for another worker when `stop` was set)."""
    clock = app.extensions["clock"]
    at = (lambda: now) if now is not None else clock.now
    lease = timedelta(seconds=float(app.config.get("OUTBOX_LEASE_SECONDS", 60)))
    jitter = random or app.extensions.get("outbox_random") or _random.random
    counts = {"sent": 0, "retried": 0, "failed": 0, "released": 0}
    with db.new_session(app) as session:
        claimed = store.claim_due(session, at(), lease, limit=int(app.config.get("MAIL_BATCH", 20)))
        if not claimed:
            return counts
        todo = []
        for notice in claimed:
            if notice.address:
                todo.append(notice)
            elif store.record_ended(session, notice, at(), rules.NO_ADDRESS, "the unit has no notice address"):
                log.info("mail notice %s to unit %s: the unit has no address now; not sent", notice.id, notice.unit_id)
                observability.count_mail("no_address")
                counts["failed"] += 1
        if todo:
            _send_all(app, session, todo, at, jitter, counts, stop)
    return counts


def _send_all(app, session, todo: list[store.Due], at, jitter, counts: dict[str, int], stop) -> None:
    reached = 0  # the notices before this one have their outcome
    try:
        with transport(app).connect() as conn:
            for reached, notice in enumerate(todo):
                if stop is not None and stop.is_set():
                    counts["released"] += store.release(session, todo[reached:], at())
                    observability.count_mail("released", len(todo) - reached)
                    return
                if at() >= notice.lease_until:
                    log.warning("mail notice %s: lease expired before sending; left for the next pass", notice.id)
                    continue
                try:
                    conn.send(build_message(app, notice, notice.address or "", at()))
                except MailFailed as failure:
                    if failure.connection:
                        raise
                    _failed(app, session, notice, failure, at, jitter, counts)
                    continue
                if store.record_sent(session, notice, at(), notice.address or ""):
                    counts["sent"] += 1
                    observability.count_mail("sent")
                    log.info("mail notice %s (%s × %s) to unit %s sent", notice.id, notice.count, notice.kind,
                             notice.unit_id)
    except MailFailed as failure:  # the server is down or went away: this notice and the rest wait for the backoff
        for notice in todo[reached:]:
            _failed(app, session, notice, failure, at, jitter, counts)


def _failed(app, session, notice: store.Due, failure: MailFailed, at, jitter, counts: dict[str, int]) -> None:
    if failure.permanent:
        if store.record_ended(session, notice, at(), rules.REJECTED, failure.reason):
            log.warning("mail notice %s to unit %s, attempt %s refused by the mail server (%s): given up",
                        notice.id, notice.unit_id, notice.attempts, store.short_error(failure.reason))
            observability.count_mail("rejected")
            counts["failed"] += 1
        return
    give_up = rules.should_give_up(notice.attempts, int(app.config.get("MAIL_MAX_ATTEMPTS", 12)))
    due_again = None if give_up else at() + sending.jittered(sending.backoff(notice.attempts), jitter)
    state = store.record_failure(session, notice, due_again, at(), failure.reason)
    if state is None:
        return
    log.warning("mail notice %s to unit %s, attempt %s failed (%s): %s", notice.id, notice.unit_id,
                notice.attempts, store.short_error(failure.reason),
                "given up" if state == store.FAILED else "tried again later")
    observability.count_mail("gave_up" if state == store.FAILED else "retry")
    counts["failed" if state == store.FAILED else "retried"] += 1


def deliver_notices(app: Flask, now: datetime | None = None, *, stop: threading.Event | None = None) -> None:
    """The delivery worker's step: `deliver_due`, never raising (a failing pass is logged; the next one tries
    again)."""
    try:
        deliver_due(app, now, stop=stop)
    except Exception:  # noqa: BLE001 - the certificate deliveries of the pass must go on
        log.exception("mail notices: the pass failed; trying again at the next pass")
