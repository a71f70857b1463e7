"""Reports of accessibility problems (the accessibility statement's feedback form, issue 16): what a report may
hold, its receipt number, and how long it is kept. No Flask, no database.

A report is the problem in the reporter's own words (required, at most TEXT_MAX characters), optionally the page
it is about (a local path of the portal: never another site, never anything personal), optionally how to reach
the reporter (e-mail and/or phone) and a format they want the content in. Asking for another format needs a way
to reach them (we cannot send it otherwise).
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import unquote, urlsplit

from .filter_params import one_text

TEXT_MAX = 2000
PAGE_MAX = 300
EMAIL_MAX = 254
PHONE_MAX = 40
KEEP_DAYS = 2 * 365  # a report is deleted this long after it came in (portal purge-sessions)
REFERENCE_PREFIX = "TG"
REFERENCE_RE = re.compile(r"TG-[0-9]{4}-[0-9]{6,}")

#: the formats a reporter can ask for ("" is none); the pages word them
FORMATS = ("", "easy_read", "large_print", "braille", "audio", "other")
FIELDS = ("problem", "page", "email", "phone", "format")

_EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_PHONE_RE = re.compile(r"\+?[0-9 ()/-]+")


@dataclass(frozen=True)
class Report:
    problem: str
    page: str | None
    email: str | None
    phone: str | None
    format: str | None
    language: str

    @property
    def reachable(self) -> bool:
        return bool(self.email or self.phone)


@dataclass
class ReportForm:
    """What the form holds (as typed), the report when it is valid, and the errors by field (codes:
    PROBLEM_MISSING, PROBLEM_TOO_LONG, PROBLEM_INVALID, PAGE_INVALID, PAGE_PERSONAL, EMAIL_INVALID,
    PHONE_INVALID, FORMAT_UNKNOWN, CONTACT_NEEDED)."""

    values: dict[str, str]
    report: Report | None = None
    errors: dict[str, str] = field(default_factory=dict)


def _bad_characters(text: str, allowed: str = "") -> bool:
    """Control characters (but the allowed ones) and lone surrogates: nothing a person types, and PostgreSQL
    refuses NUL."""
    return any((unicodedata.category(ch) == "Cc" and ch not in allowed) or unicodedata.category(ch) == "Cs"
               for ch in text)


PAGE_OK, PAGE_INVALID, PAGE_PERSONAL = "OK", "PAGE_INVALID", "PAGE_PERSONAL"


def local_page(value: str, own_origins: tuple[str, ...], mask: Callable[[str], str]) -> tuple[str, str]:
    """(the page as a local path, PAGE_OK) or ("", why not). A full address of the portal itself (as copied from
    the address bar) becomes its path; another site's address, a scheme, "//host", a backslash or control
    characters are PAGE_INVALID; anything `mask` would hide in a log line (a personnummer, a search text, a share
    link's token; security.mask_pnr), also percent-encoded, is PAGE_PERSONAL: it is never stored."""
    value = value.strip()
    if not value:
        return "", PAGE_OK
    for origin in own_origins:
        origin = origin.rstrip("/")
        if origin and (value == origin or value.startswith(origin + "/") or value.startswith(origin + "?")):
            value = value[len(origin):] or "/"
            if value.startswith("?"):
                value = "/" + value
            break
    if len(value) > PAGE_MAX or _bad_characters(value):
        return "", PAGE_INVALID
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "", PAGE_INVALID
    decoded = unquote(value)
    if mask(value) != value or mask(decoded) != decoded:
        return "", PAGE_PERSONAL
    return value.split("#", 1)[0], PAGE_OK


def parse(form: Mapping[str, object], *, language: str, own_origins: tuple[str, ...],
          mask: Callable[[str], str]) -> ReportForm:
    """The feedback form checked. `mask` hides what must never be stored from a text (security.mask_pnr)."""
    values = {name: one_text(form, name) for name in FIELDS}
    errors: dict[str, str] = {}
    problem = values["problem"].replace("\r\n", "\n").replace("\r", "\n").strip()
    values["problem"] = problem
    if not problem:
        errors["problem"] = "PROBLEM_MISSING"
    elif len(problem) > TEXT_MAX:
        errors["problem"] = "PROBLEM_TOO_LONG"
    elif _bad_characters(problem, allowed="\n\t"):
        errors["problem"] = "PROBLEM_INVALID"
    page, why = local_page(values["page"], own_origins, mask)
    if why != PAGE_OK:
        errors["page"] = why
        values["page"] = "" if why == PAGE_PERSONAL else values["page"]  # a personnummer is not shown back either
    email = values["email"] = values["email"].strip()
    if email and (len(email) > EMAIL_MAX or not _EMAIL_RE.fullmatch(email) or _bad_characters(email)):
        errors["email"] = "EMAIL_INVALID"
    phone = values["phone"] = " ".join(values["phone"].split())
    digits = sum(ch.isdigit() for ch in phone)
    if phone and (len(phone) > PHONE_MAX or not _PHONE_RE.fullmatch(phone) or not 6 <= digits <= 15):
        errors["phone"] = "PHONE_INVALID"
    wanted = values["format"]
    if wanted not in FORMATS:
        errors["format"] = "FORMAT_UNKNOWN"
    elif wanted and not email and not phone and "email" not in errors and "phone" not in errors:
        errors["email"] = "CONTACT_NEEDED"
    if errors:
        return ReportForm(values, None, errors)
    return ReportForm(values, Report(problem=problem, page=page or None, email=email or None, phone=phone or None,
                                     format=wanted or None, language=language))


def reference(received: datetime, number: int) -> str:
    """The receipt number a reporter quotes: "TG-2026-000123" (the year it came in and the report's number)."""
    return f"{REFERENCE_PREFIX}-{received.year:04d}-{number:06d}"


def purge_before(now: datetime) -> datetime:
    """Reports that came in before this are deleted."""
    return now - timedelta(days=KEEP_DAYS)
