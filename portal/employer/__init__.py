"""The employer's side of a shared certificate: the page a citizen's link opens, without a login.

`/arbetsgivare/<token>` shows the copy the citizen chose (the same renderer and the same left-out questions as
the PDF, domain/copies.py) and `/arbetsgivare/<token>/pdf` the PDF. Each showing is recorded as an opening
(when, and which: the citizen sees them); nothing else about the visitor is kept.

Before the share is even looked up, every request counts against SHARE_RATE_LIMIT_ADDRESS for the client's
address, and once found against SHARE_RATE_LIMIT_LINK for the link (the rate limiter's shared counters in the
database, so every app process counts together). A link with a code asks for it first (a form post with CSRF);
CODE_ATTEMPTS wrong codes lock the link, which the citizen sees. A right code lets this browser open the page and
its PDF for ACCESS_MINUTES (the share's id in the signed session cookie).

A withdrawn, expired, locked or ended link (its certificate revoked) answers a plain page that says so and
nothing else; an unknown one 404. Every answer here is no-store, never indexed, and sends no Referer (the
token is in the path). The token never reaches a log: log lines name the route, not the path, and
security.mask_pnr masks share tokens in any text that is logged (the language switch's `next`, error lines).

No PDL record: the employer is not care staff and reads what the patient chose to give them.
"""
from __future__ import annotations

import math
import time
from datetime import datetime, timedelta

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from limits import parse as parse_limit

from .. import db
from ..domain import copies, sharing
from ..i18n import current_language
from ..repository import certificates as certificate_store
from ..repository import shares as store
from ..security import no_store

bp = Blueprint("employer", __name__, url_prefix="/arbetsgivare")
ACCESS_KEY = "share_access"  # in the signed session cookie: {share id: ISO time the access ends}


@bp.after_request
def _private(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response


def _now() -> datetime:
    return current_app.extensions["clock"].now()


class RateLimited(Exception):
    def __init__(self, wait: int):
        self.wait = wait


def _hit(limit_key: str, scope: str, key: str) -> None:
    from ..auth import limiter

    if not current_app.config.get("RATELIMIT_ENABLED", True) or limiter.limiter is None:
        return
    item = parse_limit(current_app.config[limit_key])
    if not limiter.limiter.hit(item, scope, key):
        reset, _ = limiter.limiter.get_window_stats(item, scope, key)
        raise RateLimited(max(1, math.ceil(reset - time.time())))  # the limiter's windows run on the real clock


def _gone(reason: str, status: int, **extra):
    return render_template("employer/gone.html", reason=reason, **extra), status


@bp.errorhandler(RateLimited)
def _rate_limited(err: RateLimited):
    body, status = _gone("RATE_LIMITED", 429, wait_minutes=max(1, math.ceil(err.wait / 60)))
    return body, status, {"Retry-After": str(err.wait)}


def _find(token: str) -> store.ShareView | tuple:
    """The share, or the page to answer instead (unknown, withdrawn, expired, locked, ended)."""
    no_store()
    from ..auth.rate_limit import client_address

    _hit("SHARE_RATE_LIMIT_ADDRESS", "share-address", client_address())
    found = store.by_token(db.session(), token, _now())
    if found is None:
        return _gone("NOT_FOUND", 404)
    _hit("SHARE_RATE_LIMIT_LINK", "share-link", str(found.id))
    if found.state == sharing.WITHDRAWN:
        return _gone("WITHDRAWN", 410)
    if found.state == sharing.EXPIRED:
        return _gone("EXPIRED", 410)
    if found.state == sharing.ENDED:
        return _gone("ENDED", 410)
    if found.state == sharing.LOCKED:
        return _gone("LOCKED", 403)
    return found


def _has_access(found: store.ShareView) -> bool:
    if not found.has_code:
        return True
    until = (session.get(ACCESS_KEY) or {}).get(str(found.id))
    try:
        return until is not None and _now() < datetime.fromisoformat(until)
    except (TypeError, ValueError):
        return False


def _grant(found: store.ShareView) -> None:
    now = _now()
    kept = {}
    for key, until in (session.get(ACCESS_KEY) or {}).items():  # drop what has run out
        try:
            if now < datetime.fromisoformat(until):
                kept[key] = until
        except (TypeError, ValueError):
            continue
    kept[str(found.id)] = (now + timedelta(minutes=sharing.ACCESS_MINUTES)).isoformat()
    session[ACCESS_KEY] = kept


def _certificate(found: store.ShareView):
    cert = certificate_store.one(db.session(), found.certificate_id)
    if cert is None or cert.revoked_at is not None:  # pragma: no cover - the share's state says ENDED first
        abort(404)
    ctype = current_app.extensions["certificate_types"][cert.type_code]
    if found.variant not in copies.employer_copies(ctype):  # the type no longer offers the copy
        abort(404)
    return cert, ctype


@bp.route("/<token>", methods=["GET", "POST"])
def view(token: str):
    found = _find(token)
    if not isinstance(found, store.ShareView):
        return found
    code_error = None
    attempts_left = None
    if request.method == "POST":
        if not found.has_code:  # nothing to post: the page itself
            return redirect(url_for("employer.view", token=token), code=303)
        expected = sharing.unseal(current_app.config["SECRET_KEY"], found.code_sealed)
        typed = request.form.get("code", "")
        if expected is not None and sharing.code_matches(expected, typed):
            _grant(found)
            # after a right code, the page itself (a GET: reloading it does not post the code again)
            return redirect(url_for("employer.view", token=token), code=303)
        attempts_left = store.record_wrong_code(db.session(), found.id, _now())
        if attempts_left == 0:
            return _gone("LOCKED", 403, just_locked=True)
        code_error = "EMPTY" if not sharing.normalise_code(typed) else "WRONG"
    if not _has_access(found):
        return render_template("employer/view.html", share=found, step="code", token=token, code_error=code_error,
                               attempts_left=attempts_left, code_length=sharing.CODE_LENGTH), (
            400 if code_error else 200)
    context = _copy_context(found)
    store.record_opening(db.session(), found.id, sharing.PAGE, _now())
    return render_template("employer/view.html", share=found, step="copy", token=token, **context)


def _copy_context(found: store.ShareView) -> dict:
    cert, ctype = _certificate(found)
    return {"cert": cert, "ctype": ctype, "hidden": copies.hidden_questions(ctype, found.variant)}


@bp.get("/<token>/pdf")
def pdf_file(token: str):
    from .. import pdf

    found = _find(token)
    if not isinstance(found, store.ShareView):
        return found
    if not _has_access(found):
        return redirect(url_for("employer.view", token=token), code=303)
    cert, ctype = _certificate(found)
    lang = current_language()
    data = pdf.cached_pdf(current_app, ctype, cert, found.variant, lang)
    store.record_opening(db.session(), found.id, sharing.PDF, _now())
    response = current_app.response_class(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'attachment; filename="{pdf.filename(ctype, cert, found.variant, lang)}"'
    return response


def init_app(app) -> None:
    app.register_blueprint(bp)
