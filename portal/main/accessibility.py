"""The accessibility statement's facts and its feedback form (issue 16).

- `a11y_status()` (a template global): the statement's conformance status, known failures and test date, from
  accessibility/status.json (domain/a11y_status.py; A11Y_STATUS_FILE names another file).
- `/tillganglighet/synpunkter`: report an accessibility problem or ask for content in another format. A plain
  form post with CSRF, no JavaScript needed, FEEDBACK_RATE_LIMIT posts per client address (the shared limiter).
  Valid: stored with a receipt number, then 303 to the receipt. Invalid: 400 with an error summary, nothing
  stored. `?sida=/a/page` fills in the page (a local path only; anything personal is dropped).
- `/tillganglighet/synpunkter/kvitto/<reference>`: the receipt, only in the browser that sent the report (its
  references are kept in the signed session cookie); 404 for any other.

Nothing the reporter wrote is logged: log lines name the receipt number only.
"""
from __future__ import annotations

import logging
from pathlib import Path

from flask import abort, current_app, redirect, render_template, request, session, url_for

from .. import db
from ..auth.rate_limit import limiter
from ..config import ROOT
from ..domain import a11y_feedback as rules
from ..domain import a11y_status
from ..i18n import current_language
from ..repository import a11y_feedback as store
from ..security import mask_pnr, no_store
from . import bp

log = logging.getLogger(__name__)
DEFAULT_RATE_LIMIT = "10 per hour"
RECEIPTS_KEY = "a11y_receipts"  # in the signed session cookie: the receipt numbers this browser was given
RECEIPTS_KEPT = 5


@bp.app_template_global("a11y_status")
def status() -> a11y_status.A11yStatus:
    """The statement's facts (read again only when the file changes)."""
    return a11y_status.load(Path(current_app.config.get("A11Y_STATUS_FILE") or ROOT / "accessibility" / "status.json"))


def feedback_limit() -> str:
    return current_app.config.get("FEEDBACK_RATE_LIMIT") or DEFAULT_RATE_LIMIT


def _origins() -> tuple[str, ...]:
    """The portal's own addresses: a full address of one of them is taken as its path."""
    return tuple({current_app.config.get("PUBLIC_BASE_URL", ""), request.host_url.rstrip("/")} - {""})


def _page(form: rules.ReportForm, status: int = 200):
    if status != 200:
        no_store()  # the reporter's own words are on it
    return render_template("main/feedback.html", form=form, text_max=rules.TEXT_MAX,
                           formats=rules.FORMATS), status


@bp.route("/tillganglighet/synpunkter", methods=["GET", "POST"])
@limiter.limit(feedback_limit, methods=["POST"])
def feedback():
    if request.method == "GET":
        page, _why = rules.local_page(request.args.get("sida", ""), _origins(), mask_pnr)
        return _page(rules.ReportForm({name: "" for name in rules.FIELDS} | {"page": page}))
    form = rules.parse(request.form, language=current_language(), own_origins=_origins(), mask=mask_pnr)
    if form.report is None:
        log.info("accessibility feedback refused: %s", ",".join(sorted(form.errors.values())))
        return _page(form, 400)
    reference = store.store(db.session(), form.report, current_app.extensions["clock"].now())
    log.info("accessibility feedback stored reference=%s", reference)
    session[RECEIPTS_KEY] = ([r for r in session.get(RECEIPTS_KEY) or [] if r != reference] + [reference])[
        -RECEIPTS_KEPT:]
    return redirect(url_for("main.feedback_receipt", reference=reference), code=303)


@bp.get("/tillganglighet/synpunkter/kvitto/<reference>")
def feedback_receipt(reference: str):
    no_store()
    if not rules.REFERENCE_RE.fullmatch(reference) or reference not in (session.get(RECEIPTS_KEY) or []):
        abort(404)
    found = store.receipt(db.session(), reference)
    if found is None:  # deleted since
        abort(404)
    return render_template("main/feedback_receipt.html", receipt=found)
