"""Sending a certificate to its recipient: who may send, what is posted, and when a failed delivery is
tried again. Pure: no Flask, no SQL (the outbox is `repository.outbox`, the transport
`adapters.recipients`, the loop `worker`).

The rules (domain.md, "Mina intyg" – Send): only to the type's electronic recipient, chosen by the
server; not for revoked or replaced certificates; not twice to the same recipient (a pending or
delivered send blocks a new one, a failed one does not); never for a valideringsperson. The worker
checks the same rules again just before it posts (`delivery_refusal`).

How a send ends when it is not delivered (`failure`), and what the citizen is told (`failure_notice`):
- REJECTED: the recipient answered that it will not take it (a 4xx other than 408/429): not retried;
- REFUSED: the rules stopped it at delivery (revoked, replaced, sent by care, valideringsperson);
- GAVE_UP: every attempt failed (no answer, the recipient down, the person service down, an unexpected
  error) until `should_give_up`.
A send whose attempt timed out or got no clear answer is `maybe_received`: the recipient may have it. A
retry of it carries the same idempotency key (`retry_key`), so the recipient recognises it and never
holds the certificate twice.
"""
from __future__ import annotations

import random as _random
import secrets
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Callable

from . import certificate_types as ct
from .certificates import CertificateView, SendView

NO_RECIPIENT = "NO_RECIPIENT"  # the type has no electronic recipient
REVOKED = "REVOKED"
REPLACED = "REPLACED"
ALREADY_SENT = "ALREADY_SENT"  # a pending or delivered send to the recipient exists
VALIDATION_PERSON = "VALIDATION_PERSON"

REFUSALS = (NO_RECIPIENT, REVOKED, REPLACED, ALREADY_SENT, VALIDATION_PERSON)

# how a send that was not delivered ended (sends.failure)
REJECTED = "REJECTED"  # the recipient said no (a permanent error): not retried
REFUSED = "REFUSED"  # the rules stopped it at delivery: never posted (again)
GAVE_UP = "GAVE_UP"  # no attempt succeeded before the give-up time
FAILURES = (REJECTED, REFUSED, GAVE_UP)

# what the citizen's page says about a failed send (failure_notice)
NOTICE_UNKNOWN = "UNKNOWN"  # we do not know whether the recipient has it
NOTICE_REJECTED = "REJECTED"  # the recipient did not take it
NOTICE_REFUSED = "REFUSED"  # the rules stopped it
NOTICE_NOT_SENT = "NOT_SENT"  # the recipient could not be reached: it does not have it

BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(minutes=30)
JITTER = 0.2  # each wait is drawn between 80 % and 120 % of the backoff

Random = Callable[[], float]  # a source of numbers in [0, 1), like random.random


def recipient(ctype: ct.CertificateType | None) -> str | None:
    """The electronic recipient a certificate of this type is sent to (chosen by the server, never the user)."""
    return ctype.recipient if ctype is not None else None


def refusal(ctype: ct.CertificateType | None, cert: CertificateView, *, validation_person: bool) -> str | None:
    """None if the citizen may send the certificate to its type's recipient; otherwise why not (a code above).

    Whether the certificate is the citizen's own and visible to them is the caller's first check
    (`certificates.visible_to_citizen`)."""
    to = recipient(ctype)
    if not to:
        return NO_RECIPIENT
    if cert.revoked_at is not None:
        return REVOKED
    if cert.replaced_by:
        return REPLACED
    if cert.send_to(to) is not None:
        return ALREADY_SENT
    if validation_person:
        return VALIDATION_PERSON
    return None


def delivery_refusal(ctype: ct.CertificateType | None, cert: CertificateView, to: str, *,
                     validation_person: bool) -> str | None:
    """The send request's rules checked again when the send to `to` is about to be posted: None if it may go.

    The same rules as `refusal` (revoked, replaced, sent by care, valideringsperson), except that the send
    being delivered does not block itself: only a delivered send to the recipient (care's, as a rule) does."""
    if recipient(ctype) != to:
        return NO_RECIPIENT
    delivered = tuple(s for s in cert.sends if s.state == "DELIVERED")
    return refusal(ctype, replace(cert, sends=delivered), validation_person=validation_person)


def failure_notice(send: SendView) -> str:
    """What the citizen is told about a failed send (a NOTICE_ code).

    Whether the recipient may have it comes first when the rules did not stop it: a send whose attempt timed
    out or got no clear answer is UNKNOWN (a retry cannot make a duplicate: it carries the same key)."""
    if send.failure == REFUSED:
        return NOTICE_REFUSED
    if send.failure == REJECTED:
        return NOTICE_REJECTED
    if send.maybe_received or send.failure is None:  # None: failed before failures were recorded, unknown
        return NOTICE_UNKNOWN
    return NOTICE_NOT_SENT


def retry_key(failure: str | None, maybe_received: bool, key: str) -> str | None:
    """The idempotency key a new send carries when it retries a failed send with this key; None: a new key.

    The same key unless the recipient clearly rejected the send and no attempt was left without a clear
    answer: then the recipient holds nothing under the key (and may remember its refusal), so a fresh key
    is right. Any other failed send may have reached the recipient, and only the same key stops a second
    certificate."""
    if failure == REJECTED and not maybe_received:
        return None
    return key


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, 4 min, … at most 30 min
    (before the jitter `next_attempt` adds)."""
    n = max(attempts, 1) - 1
    if n >= 16:  # 30 s * 2**16 is far beyond the cap; do not build huge numbers
        return BACKOFF_MAX
    return min(BACKOFF_FIRST * (2 ** n), BACKOFF_MAX)


def should_give_up(requested_at: datetime, now: datetime, give_up_after: timedelta) -> bool:
    """A send that has not been delivered `give_up_after` after it was requested is given up (FAILED)."""
    return now - requested_at >= give_up_after


def jittered(wait: timedelta, random: Random | None = None) -> timedelta:
    """The wait made up to 20 % shorter or longer at random, so that sends that failed together (the recipient
    went down) are not all tried again at the same moment. `random` returns a number in [0, 1) (default
    random.random)."""
    u = min(max(float((random or _random.random)()), 0.0), 1.0)
    return wait * (1 - JITTER + 2 * JITTER * u)


def next_attempt(attempts: int, requested_at: datetime, now: datetime, give_up_after: timedelta,
                 random: Random | None = None) -> datetime:
    """When to try again after a failure: after the backoff with its jitter, but never later than the give-up
    time, so that the last attempt is made at the deadline rather than skipped. `random` is the source of the
    jitter (tests give a fixed one)."""
    return min(now + jittered(backoff(attempts), random), requested_at + give_up_after)


def idempotency_key() -> str:
    """A random key (256 bits, URL-safe, 43 characters) that the recipient uses to recognise a repeated delivery."""
    return secrets.token_urlsafe(32)


def payload(cert: CertificateView, ctype: ct.CertificateType) -> dict:
    """What is posted to the recipient (in the request body only, never in a URL)."""
    return {
        "certificate_id": cert.id,
        "type": cert.type_code,
        "type_version": cert.type_version,
        "recipient": ctype.recipient,
        "signed_at": cert.signed_at.isoformat(),
        "patient": {"personnummer": cert.patient_pnr},
        "unit": {"id": cert.unit_id, "name": cert.unit_name},
        "provider": {"name": cert.provider_name},
        "issued_by": {"name": cert.staff_name},
        "content": cert.content,
    }
