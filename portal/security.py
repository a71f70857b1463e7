"""Security baseline: strict CSP and the usual headers, CSRF, no-store for personal pages,
and a logging filter that keeps personnummer out of logs."""
from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit

from flask import Flask, Request, Response, g, request
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
CROSS_SITE_MESSAGE = _l("Länken eller formuläret kom från en annan webbplats, så vi gjorde ingenting. Öppna "
                        "tjänsten direkt, till exempel från ett bokmärke, och försök igen.")

# --- personnummer out of logs ------------------------------------------------------------------------
# A birth date as a personnummer has it: month 01-12, day 01-31 or 61-91 (a samordningsnummer adds 60).
_MONTH = r"(?:0[1-9]|1[0-2])"
_DAY = r"(?:0[1-9]|[12]\d|3[01]|6[1-9]|[78]\d|9[01])"
# between the date and the last four digits: a hyphen or a plus (100 years or older), also URL-encoded (once or
# twice); the 12-digit form also a space ("+" or %20 in a query string)
_SEP = r"(?:[-+]|%2[dDbB]|%252[dDbB])"
_SEP_12 = r"(?:[-+ ]|%2[dDbB]|%252[dDbB]|%20)"
#: Anything shaped like a personnummer, anywhere in a text (letters around it do not hide it, other digits do):
#: 12 digits YYYYMMDD-NNNN with or without the separator (century 19 or 20), 10 digits YYMMDD-NNNN or
#: YYMMDD+NNNN, and 10 bare digits YYMMDDNNNN when the check digit holds too (so that an ordinary 10-digit
#: number, a Unix time say, is left alone).
PNR_RE = re.compile(
    rf"(?<!\d)(?:(?P<century>19|20)(?P<yy12>\d\d){_MONTH}{_DAY}{_SEP_12}?\d{{4}}"
    rf"|(?P<yy10>\d\d){_MONTH}{_DAY}{_SEP}\d{{4}}"
    rf"|(?P<bare>(?P<yy>\d\d){_MONTH}{_DAY}\d{{4}}))(?!\d)")
#: Query parameters that hold what a user typed to find a person: their whole value is masked wherever it
#: appears (an old bookmark of the ongoing list, a proxy's log line), a name as much as a personnummer.
PERSONAL_PARAMS_RE = re.compile(
    r"(?i)(?:^|(?<=[?&;\s\"'(,])|(?<=%3F)|(?<=%26)|(?<=%253F)|(?<=%2526))"  # a parameter starts (also encoded)
    r"(fritext)(=|%3D|%253D)(?:(?!%26|%2526)[^&\s\"'#])*")


def _luhn(digits: str) -> bool:
    """The personnummer's check digit (Luhn over the ten digits YYMMDDNNNC)."""
    total = 0
    for i, ch in enumerate(digits):
        n = int(ch) * (2 - i % 2)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def _masked(m: re.Match) -> str:
    if m.group("century"):
        return f"{m.group('century')}{m.group('yy12')}****-****"
    if m.group("bare") and not _luhn(m.group("bare")):
        return m.group(0)
    return f"{m.group('yy10') or m.group('yy')}****-****"


#: A share link's token in a path, also URL-encoded (the language switch's `next`): masked wherever it is logged.
SHARE_TOKEN_RE = re.compile(r"(?i)((?:/|%2F|%252F)arbetsgivare(?:/|%2F|%252F))[^/?&#\s\"'%<>]+")


def mask_pnr(text: str) -> str:
    """The text with every personnummer masked to its birth year ("1912****-****"), in any of its forms, the
    value of a search parameter ("fritext=***"), and the token of a share link ("/arbetsgivare/***")."""
    return PNR_RE.sub(_masked, PERSONAL_PARAMS_RE.sub(r"\1\2***", SHARE_TOKEN_RE.sub(r"\1***", text)))


_formatter = logging.Formatter()


def _mask_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # pragma: no cover - broken format args
        return
    masked = mask_pnr(message)
    if masked != message:
        record.msg, record.args = masked, None
    if record.exc_info and not record.exc_text:
        record.exc_text = mask_pnr(_formatter.formatException(record.exc_info))
    if record.stack_info:
        record.stack_info = mask_pnr(record.stack_info)


def install_log_masking() -> None:
    """Mask anything that looks like a personnummer in every log record, tracebacks included
    (defence in depth: the code never logs one on purpose)."""
    current = logging.getLogRecordFactory()
    if getattr(current, "masks_personnummer", False):
        return

    def factory(*args, **kwargs):
        record = current(*args, **kwargs)
        _mask_record(record)
        return record

    factory.masks_personnummer = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


def csp(extra_form_action: tuple[str, ...] = ()) -> str:
    form_action = " ".join(("'self'",) + extra_form_action)
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        f"frame-ancestors 'none'; form-action {form_action}"
    )


def no_store() -> None:
    """Mark the current response as personal: never cached, not kept in htmx history."""
    g.no_store = True


# Endpoints a request from another site may reach: the API (tokens, no cookies), the test broker (its
# own pages), and the login callback (the broker sends the browser back from its own site).
CROSS_SITE_ALLOWED = ("api.", "testbroker.", "auth.callback", "static")
# Areas where even a GET reads patient data and writes a PDL record in the staff member's name, and the
# pages there that show no patient (the overview is where the login lands, after the broker's own site:
# the browser then calls the whole redirect chain cross-site).
PDL_AREAS = ("rehab.",)
NO_PATIENT_PAGES = ("rehab.start", "rehab.settings")


def cross_site(req: Request) -> bool:
    """The request comes from another site: the browser says so (Sec-Fetch-Site: cross-site), or it
    names an Origin that is not ours ("null" included, unless the browser says same-origin)."""
    fetch_site = req.headers.get("Sec-Fetch-Site", "").lower()
    if fetch_site == "cross-site":
        return True
    origin = req.headers.get("Origin")
    if origin is None:
        return False
    if origin == "null" and fetch_site == "same-origin":
        # a page with Referrer-Policy: no-referrer (the employer's share page) makes the browser send
        # "Origin: null" on its own forms; Sec-Fetch-Site, which no page can set, says where it came from
        return False
    ours = urlsplit(req.host_url)
    theirs = urlsplit(origin)
    return (theirs.scheme, theirs.netloc) != (ours.scheme, ours.netloc)


def refuses_cross_site(endpoint: str | None, method: str) -> bool:
    """Whether a cross-site request to this endpoint is refused: every state change, and every request
    to an area that writes PDL records (a link on another site must not log a read in a user's name)."""
    endpoint = endpoint or ""
    if endpoint.startswith(CROSS_SITE_ALLOWED):
        return False
    if method not in ("GET", "HEAD", "OPTIONS"):
        return True
    return endpoint.startswith(PDL_AREAS) and endpoint not in NO_PATIENT_PAGES


def init_app(app: Flask) -> None:
    @app.before_request
    def _refuse_cross_site():  # before the CSRF check: the clearer answer for what it is
        if refuses_cross_site(request.endpoint, request.method) and cross_site(request):
            from .errors import render_error

            g.no_store = True
            return render_error(403, str(CROSS_SITE_MESSAGE))
        return None

    csrf.init_app(app)
    install_log_masking()

    @app.after_request
    def _headers(response: Response) -> Response:
        h = response.headers
        h.setdefault("Content-Security-Policy", csp(tuple(app.config.get("CSP_FORM_ACTION_EXTRA", ()))))
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        h.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        h.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
        hsts = int(app.config.get("HSTS_SECONDS") or (31536000 if app.config.get("SESSION_COOKIE_SECURE") else 0))
        if hsts:
            h.setdefault("Strict-Transport-Security", f"max-age={hsts}; includeSubDomains")
        if g.get("no_store"):
            h["Cache-Control"] = "no-store"
            h["Pragma"] = "no-cache"
        elif request.endpoint != "static":
            h.setdefault("Cache-Control", "no-cache")
        if request.headers.get("HX-Request") is not None or request.endpoint not in (None, "static"):
            h.add("Vary", "HX-Request")
        return response
