"""Sending e-mail: through an SMTP server (production), or into a local mailbox file (the embedded default).

    SmtpMail(host, port, user, password, starttls, timeout)   MAIL_SMTP_HOST is set
    MailboxFile(path)                                          no MAIL_SMTP_HOST: instance/mail/outbox.mbox

Both are used the same way: `with transport.connect() as conn: conn.send(message)`; one connection (or one lock
on the file) for a batch. A failure raises MailFailed: `permanent` when the server refused the recipient for good
(a 5xx answer to RCPT TO); `connection` when nothing more can go through this connection (the server is down or
went away); anything else may succeed on the next attempt.
"""
from __future__ import annotations

import mailbox
import smtplib
import ssl
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Iterator, Protocol


class MailFailed(Exception):
    def __init__(self, reason: str, *, permanent: bool = False, connection: bool = False):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.connection = connection


class Connection(Protocol):
    def send(self, message: EmailMessage) -> None: ...


class Transport(Protocol):
    def connect(self) -> Iterator[Connection]: ...


class _Smtp:
    def __init__(self, client: smtplib.SMTP):
        self.client = client

    def send(self, message: EmailMessage) -> None:
        try:
            refused = self.client.send_message(message)
        except smtplib.SMTPRecipientsRefused as err:
            codes = [code for code, _ in err.recipients.values()]
            permanent = bool(codes) and all(500 <= code < 600 for code in codes)
            raise MailFailed(f"recipient refused ({', '.join(str(c) for c in codes)})", permanent=permanent) from None
        except smtplib.SMTPServerDisconnected as err:
            raise MailFailed(f"the server went away: {err}", connection=True) from None
        except smtplib.SMTPResponseException as err:
            raise MailFailed(f"the server answered {err.smtp_code}") from None
        except (OSError, smtplib.SMTPException) as err:
            raise MailFailed(f"{type(err).__name__}: {err}", connection=True) from None
        if refused:  # only some recipients refused: there is one recipient, so not reached
            raise MailFailed("recipient refused")


class SmtpMail:
    """An SMTP server: STARTTLS (verified against the system's CAs) before logging in when `starttls`."""

    def __init__(self, host: str, port: int = 25, *, user: str | None = None, password: str | None = None,
                 starttls: bool = False, timeout: float = 10.0):
        self.host, self.port, self.user, self.password = host, int(port), user, password
        self.starttls, self.timeout = starttls, float(timeout)

    def describe(self) -> str:
        return f"smtp://{self.host}:{self.port}" + (" (STARTTLS)" if self.starttls else "")

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        try:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except (OSError, smtplib.SMTPException) as err:
            raise MailFailed(f"cannot connect to {self.host}:{self.port}: {type(err).__name__}",
                             connection=True) from None
        try:
            try:
                client.ehlo()
                if self.starttls:
                    client.starttls(context=ssl.create_default_context())
                    client.ehlo()
                if self.user:
                    client.login(self.user, self.password or "")
            except smtplib.SMTPAuthenticationError as err:
                raise MailFailed(f"login refused ({err.smtp_code})", connection=True) from None
            except (OSError, smtplib.SMTPException) as err:
                raise MailFailed(f"{type(err).__name__} before sending", connection=True) from None
            yield _Smtp(client)
        finally:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()


class _Mailbox:
    def __init__(self, box: mailbox.mbox):
        self.box = box

    def send(self, message: EmailMessage) -> None:
        try:
            self.box.add(message)
            self.box.flush()
        except OSError as err:
            raise MailFailed(f"cannot write the mailbox file: {type(err).__name__}", connection=True) from None


class MailboxFile:
    """The embedded default: every mail appended to a local mbox file (read it with `mail -f FILE`, mutt, or
    Python's mailbox module), locked while written so that several processes can share it."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def describe(self) -> str:
        return f"mbox:{self.path}"

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            box = mailbox.mbox(str(self.path))
            box.lock()
        except (OSError, mailbox.Error) as err:
            raise MailFailed(f"cannot open the mailbox file: {type(err).__name__}", connection=True) from None
        try:
            yield _Mailbox(box)
        finally:
            box.unlock()
            box.close()
