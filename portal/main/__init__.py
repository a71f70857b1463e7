"""The public pages: start page, accessibility statement, language switch, health check."""
from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Blueprint, abort, current_app, redirect, render_template, request

from ..i18n import LANG_COOKIE

bp = Blueprint("main", __name__)
log = logging.getLogger(__name__)


def safe_next(target: str | None) -> str:
    """A local path to go back to (never another host)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@bp.get("/")
def start():
    return render_template("main/start.html")


@bp.get("/tillganglighet")
def accessibility_statement():
    return render_template("main/accessibility.html", organisation=current_app.config.get("ORGANISATION_NAME") or None)


@bp.get("/sprak/<code>")
def language(code: str):
    if code not in current_app.config["LANGUAGES"]:
        abort(404)
    response = redirect(safe_next(request.args.get("next")), code=303)
    response.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="Lax",
                        secure=current_app.config["SESSION_COOKIE_SECURE"], httponly=True)
    return response


@bp.get("/healthz")
def health():
    """Liveness: the process answers (asks nothing else, so a slow database never gets a process killed)."""
    return {"status": "ok"}


@bp.get("/readyz")
def ready():
    """Readiness: the database answers and its schema is at the newest migration; 503 otherwise, so a load
    balancer sends no traffic to a process that cannot serve it (nothing personal, no error text)."""
    from .. import db

    try:
        current, head = db.schema_revisions(db.get_engine(current_app))
    except Exception:  # noqa: BLE001 - any failure to reach the database means "not ready"
        log.warning("readyz: the database does not answer", exc_info=True)
        return {"status": "not ready", "database": "unavailable"}, 503
    if current != head:
        return {"status": "not ready", "database": "ok", "migrations": "behind",
                "revision": current, "head": head}, 503
    return {"status": "ready", "database": "ok", "migrations": "current", "revision": current}


def _registry():
    return current_app.extensions["certificate_types"]


@bp.get("/intygstyper")
def certificate_types():
    return render_template("main/types.html", types=list(_registry()))


@bp.get("/intygstyper/<code>")
def certificate_type(code: str):
    import random
    from datetime import timedelta

    from ..domain import demo

    ctype = _registry().get(code)
    if ctype is None:
        abort(404)
    today = current_app.extensions["clock"].today()
    start = today - timedelta(days=10)
    ctx = demo.Context(signed=start,
                       diagnoses=[{"code": "F43.8", "text": "Andra specificerade reaktioner på svår stress"}],
                       periods=[{"start": start.isoformat(), "end": (start + timedelta(days=13)).isoformat(),
                                 "degree": 100},
                                {"start": (start + timedelta(days=14)).isoformat(),
                                 "end": (start + timedelta(days=27)).isoformat(), "degree": 50}])
    example = demo.content_for(ctype, random.Random(code), ctx)
    return render_template("main/type.html", ctype=ctype, example=example)


@bp.get("/komponenter")
def components():
    """The list components (templates/components/macros.html) in their states: filters with and without
    errors, chosen filters as tags, a sortable table, the results count and page links."""
    return render_template("main/components.html")


from . import accessibility  # noqa: E402,F401  (the statement's facts and its feedback form: routes on this blueprint)
