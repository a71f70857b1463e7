"""Sharing a certificate with the employer: a link that expires, can be withdrawn, shows only the copy the
citizen chose, and is counted each time it is opened (issue 14).

The rules, with no Flask and no database:
- which copies of a type can be shared (`copies.employer_copies`: AG7804 and AG1-14 with or without the
  diagnosis, FK7804's copy with only the periods and degrees), for how long (DURATIONS days) and with what
  note (NOTE_MAX characters, for the citizen's own memory: the employer never sees it);
- the link's token: 256 random bits, URL-safe, nothing in it about the person or the certificate; only its
  SHA-256 finds the share (`token_hash`), and the token itself is kept sealed (`seal`, Fernet with a key
  derived from the app's secret) so that the citizen can copy the link again while it lives, and a copy of
  the database alone opens nothing;
- the optional code the citizen gives the employer another way (CODE_LENGTH digits, sealed the same way):
  CODE_ATTEMPTS wrong codes lock the link for good;
- what state a share is in (`state`): active, expired, withdrawn, locked, or ended because the certificate
  was revoked (a replaced certificate's share still opens, saying that a newer certificate exists).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken

from .filter_params import one_text

DURATIONS = (7, 30, 90)  # days a link lives; the citizen chooses
DEFAULT_DAYS = 30
NOTE_MAX = 100
CODE_LENGTH = 6
CODE_ATTEMPTS = 5  # wrong codes before the link locks
MAX_ACTIVE = 10  # live links per certificate
ACCESS_MINUTES = 30  # after a right code, the employer's browser may open the page and its PDF this long
RECENT_OPENINGS_DAYS = 7  # the start page tells the citizen about their links opened this recently
KEEP_ENDED_DAYS = 90  # a link that stopped working is deleted (with its openings) this long after (purge-sessions)

ACTIVE, EXPIRED, WITHDRAWN, LOCKED, ENDED = "ACTIVE", "EXPIRED", "WITHDRAWN", "LOCKED", "ENDED"
PAGE, PDF = "PAGE", "PDF"  # what an opening showed

TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{43}")


# --- the citizen's choice ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    variant: str
    days: int
    note: str
    with_code: bool


@dataclass
class ChoiceForm:
    """What the form holds (as typed), the parsed choice when it is valid, and the errors by field (codes:
    VARIANT_MISSING, VARIANT_UNKNOWN, DAYS_MISSING, DAYS_UNKNOWN, NOTE_TOO_LONG, NOTE_INVALID, CODE_UNKNOWN)."""

    values: dict[str, str]
    choice: Choice | None = None
    errors: dict[str, str] = field(default_factory=dict)


def parse_choice(form: Mapping[str, object], copies: list[str]) -> ChoiceForm:
    """The share form (variant, days, note, code) checked against the copies the type offers."""
    values = {name: one_text(form, name) for name in ("variant", "days", "note", "code")}
    errors: dict[str, str] = {}
    variant = values["variant"]
    if not variant:
        errors["variant"] = "VARIANT_MISSING"
    elif variant not in copies:
        errors["variant"] = "VARIANT_UNKNOWN"
    days = values["days"]
    if not days:
        errors["days"] = "DAYS_MISSING"
    elif not days.isascii() or not days.isdigit() or int(days) not in DURATIONS:
        errors["days"] = "DAYS_UNKNOWN"
    note = " ".join(values["note"].split())
    values["note"] = note
    if len(note) > NOTE_MAX:
        errors["note"] = "NOTE_TOO_LONG"
    elif any(unicodedata.category(ch) in ("Cc", "Cf", "Co", "Cs") for ch in note):
        errors["note"] = "NOTE_INVALID"
    if values["code"] not in ("", "yes"):
        errors["code"] = "CODE_UNKNOWN"
    if errors:
        return ChoiceForm(values, None, errors)
    return ChoiceForm(values, Choice(variant, int(days), note, values["code"] == "yes"))


# --- tokens, codes and sealing --------------------------------------------------------------------------

def new_token() -> str:
    """A link's token: 43 URL-safe characters (256 random bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def looks_like_token(token: str) -> bool:
    return TOKEN_RE.fullmatch(token) is not None


def new_code() -> str:
    """The code the citizen gives the employer another way: CODE_LENGTH digits, easy to read out."""
    return "".join(secrets.choice("0123456789") for _ in range(CODE_LENGTH))


def normalise_code(typed: str) -> str:
    """What the employer typed, without spaces or dashes (a code read out as "123 456" or "123-456")."""
    return re.sub(r"[\s-]", "", typed or "")


def code_matches(expected: str, typed: str) -> bool:
    return hmac.compare_digest(expected.encode(), normalise_code(typed)[:64].encode("utf-8", "replace"))


def _fernet(secret: str) -> Fernet:
    key = hashlib.sha256(b"intygsportalen share link\x00" + secret.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal(secret: str, text: str) -> str:
    return _fernet(secret).encrypt(text.encode("utf-8")).decode("ascii")


def unseal(secret: str, sealed: str | None) -> str | None:
    """The sealed text, or None if there is none or the secret has changed since (then the link still opens,
    but the portal cannot show it again)."""
    if not sealed:
        return None
    try:
        return _fernet(secret).decrypt(sealed.encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError):
        return None


# --- a share's state -----------------------------------------------------------------------------------

def state(*, expires_at: datetime, withdrawn_at: datetime | None, locked_at: datetime | None,
          certificate_revoked: bool, now: datetime) -> str:
    """Withdrawn wins (the citizen's act), then a revoked certificate, then locked, then expired."""
    if withdrawn_at is not None:
        return WITHDRAWN
    if certificate_revoked:
        return ENDED
    if locked_at is not None:
        return LOCKED
    if now >= expires_at:
        return EXPIRED
    return ACTIVE
