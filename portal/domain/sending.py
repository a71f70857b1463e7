"""Sending a certificate to its recipient: who may send, what is posted, and when a failed delivery is
tried again. Pure: no Flask, no SQL (the outbox is `repository.outbox`, the transport
`adapters.recipients`, the loop `worker`).

The rules (domain.md, "Mina intyg" – Send): only to the type's electronic recipient, chosen by the
server; not for revoked or replaced certificates; not twice to the same recipient (a pending or
delivered send blocks a new one, a failed one does not); never for a valideringsperson.
"""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from . import certificate_types as ct
from .certificates import CertificateView

NO_RECIPIENT = "NO_RECIPIENT"  # the type has no electronic recipient
REVOKED = "REVOKED"
REPLACED = "REPLACED"
ALREADY_SENT = "ALREADY_SENT"  # a pending or delivered send to the recipient exists
VALIDATION_PERSON = "VALIDATION_PERSON"

REFUSALS = (NO_RECIPIENT, REVOKED, REPLACED, ALREADY_SENT, VALIDATION_PERSON)

BACKOFF_FIRST = timedelta(seconds=30)
BACKOFF_MAX = timedelta(minutes=30)


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


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, 4 min, … at most 30 min.
    Deterministic, so tests (and support staff) can tell exactly when the next attempt is."""
    n = max(attempts, 1) - 1
    if n >= 16:  # 30 s * 2**16 is far beyond the cap; do not build huge numbers
        return BACKOFF_MAX
    return min(BACKOFF_FIRST * (2 ** n), BACKOFF_MAX)


def should_give_up(requested_at: datetime, now: datetime, give_up_after: timedelta) -> bool:
    """A send that has not been delivered `give_up_after` after it was requested is given up (FAILED)."""
    return now - requested_at >= give_up_after


def next_attempt(attempts: int, requested_at: datetime, now: datetime, give_up_after: timedelta) -> datetime:
    """When to try again after a failure: after the backoff, but never later than the give-up time, so that
    the last attempt is made at the deadline rather than skipped."""
    return min(now + backoff(attempts), requested_at + give_up_after)


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
