"""Logging in and out: citizens with BankID, staff with SITHS, both through OpenID Connect brokers.

Routes: /inloggning/<broker> starts a login, /inloggning/<broker>/callback finishes it,
/valj-vardenhet chooses the staff member's unit, /logga-ut ends the session (and at the broker),
/session/status and /session/forlang serve the idle-timeout warning; /utloggad/inaktivitet,
/utloggad/tidsgrans and /utloggad/behorighet say why a session ended by itself (sessions.py).
"""
from __future__ import annotations

import logging
import secrets
from urllib.parse import urlsplit

from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, g, jsonify, redirect, render_template, request, session, url_for
from flask_login import LoginManager, current_user

from .. import db
from ..adapters.hsa import lookup as hsa_lookup
from ..domain import access, persons
from ..errors import error_id
from ..main import safe_next
from ..models import UserSettings
from ..security import no_store
from . import rate_limit, sessions
from .guards import staff_required
from .logsafe import one_line
from .oidc import Broker, BrokerConfig, LoginRefused
from .rate_limit import limiter, login_limit

__all__ = ["bp", "init_app", "limiter", "login_manager"]

log = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)
login_manager = LoginManager()

KIND_OF = {"bankid": "citizen", "siths": "staff"}


def brokers() -> dict[str, Broker]:
    return current_app.extensions["oidc_brokers"]


def _broker(name: str) -> Broker:
    found = brokers().get(name)
    if found is None:
        abort(404)
    return found


def _callback_url(name: str) -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for("auth.callback", broker=name)


def _clock():
    return current_app.extensions["clock"]


def refused(reason: str, *, status: int = 403, detail: str = ""):
    eid = error_id()
    log.info("login refused reason=%s id=%s %s", reason, eid, one_line(detail))
    no_store()
    return render_template("auth/refused.html", reason=reason, error_id=eid), status


@bp.get("/inloggning/<broker>")
@limiter.limit(login_limit)
def login(broker: str):
    b = _broker(broker)
    # the service the staff member logs in to: Rehabstöd, or the staff statistics (?tjanst=statistik)
    service = STATISTICS_SERVICE if broker == "siths" and request.args.get("tjanst") == STATISTICS_SERVICE else ""
    if current_user.is_authenticated and current_user.kind == KIND_OF[broker]:
        if service:
            return redirect(url_for("statistics.staff_start"))
        return redirect(url_for("citizen.start" if broker == "bankid" else "rehab.start"))
    try:
        url, pending = b.start(_callback_url(broker), _clock().timestamp())
    except LoginRefused as err:
        return refused(err.reason, status=err.status, detail=err.detail)
    if service:
        pending["service"] = service
    session["oidc_pending"] = pending
    no_store()
    return redirect(url, code=303)


@bp.get("/inloggning/<broker>/callback")
@limiter.limit(login_limit)
def callback(broker: str):
    b = _broker(broker)
    pending = session.pop("oidc_pending", None)
    try:
        claims, id_token = b.finish(request.args.to_dict(flat=False), pending, _clock().timestamp())
    except LoginRefused as err:
        return refused(err.reason, status=err.status, detail=err.detail)
    identity = b.identity(claims)
    if broker == "bankid":
        return _citizen_login(claims, identity, id_token)
    if isinstance(pending, dict) and pending.get("service") == STATISTICS_SERVICE:
        return _statistics_login(claims, identity, id_token)
    return _staff_login(claims, identity, id_token)


STATISTICS_SERVICE = "statistik"


def _statistics_login(claims: dict, identity: str | None, id_token: str):
    """A SITHS login to the staff statistics: a commission with purpose "Statistik" on a unit, or the system role
    INTYG;Statistik-<care provider>, is enough (no Rehabstöd unit is chosen: the session's role is STATISTIK)."""
    from ..adapters.hsa import provider_names

    if not identity:
        return refused("unknown_user", detail="no HSA-id claim")
    info = hsa_lookup(db.session(), identity)
    reason = access.statistics_refusal(info, _clock().today(), provider_names(db.session()))
    if reason:
        return refused(reason, detail=f"hsa={identity}")
    assert info is not None
    sessions.start("staff", info.hsa_id, info.name or _token_name(claims), "siths", id_token)
    sessions.set_role(access.ROLE_STATISTICS)
    return redirect(url_for("statistics.staff_start"), code=303)


def _token_name(claims: dict) -> str | None:
    if claims.get("name"):
        return claims["name"]
    parts = [claims.get("given_name"), claims.get("family_name")]
    return " ".join(p for p in parts if p) or None


def _citizen_login(claims: dict, identity: str | None, id_token: str):
    pnr = persons.normalize(identity)
    reason = access.citizen_refusal(pnr, _clock().today())
    if reason:
        return refused(reason)
    assert pnr is not None  # citizen_refusal refuses an invalid personnummer
    name = _token_name(claims)
    try:
        person = current_app.extensions["person_service"].one(pnr)
        if person is not None:
            name = person.name
    except Exception:  # the citizen is themself: the name from the ID token is enough
        pass
    sessions.start("citizen", pnr, name, "bankid", id_token)
    return redirect(url_for("citizen.start"), code=303)


def _staff_login(claims: dict, identity: str | None, id_token: str):
    if not identity:
        return refused("unknown_user", detail="no HSA-id claim")
    info = hsa_lookup(db.session(), identity)
    today = _clock().today()
    reason = access.refusal_reason(info, today)
    if reason:
        return refused(reason, detail=f"hsa={identity}")
    assert info is not None  # refusal_reason refuses an unknown user
    units = access.units_offered(info, today)
    sessions.start("staff", info.hsa_id, info.name or _token_name(claims), "siths", id_token)
    settings = db.session().get(UserSettings, info.hsa_id)
    preferred = settings.default_unit_id if settings else None
    chosen = next((u for u in units if u.unit_id == preferred), units[0] if len(units) == 1 else None)
    if chosen:
        sessions.set_unit(chosen.unit_id, chosen.role)
        return redirect(url_for("rehab.start"), code=303)
    return redirect(url_for("auth.choose_unit"), code=303)


def _offered_units() -> list[access.UnitChoice]:
    info = hsa_lookup(db.session(), current_user.hsa_id)
    return access.units_offered(info, _clock().today()) if info else []


@bp.route("/valj-vardenhet", methods=["GET", "POST"])
@staff_required(unit=False)
def choose_unit():
    units = _offered_units()
    error = None
    if request.method == "POST":
        wanted = request.form.get("unit")
        chosen = next((u for u in units if u.unit_id == wanted), None)
        if chosen:
            sessions.set_unit(chosen.unit_id, chosen.role)
            return redirect(safe_next(request.form.get("next")) if request.form.get("next") else url_for("rehab.start"),
                            code=303)
        error = "choose"
    if not units:  # the commission ended during the session
        sessions.end()
        return refused("no_commission")
    status = 400 if error else 200
    changed = session.pop(sessions.UNIT_NOTICE_KEY, None)  # the rights on the unit in use changed
    return render_template("auth/choose_unit_changed.html" if changed else "auth/choose_unit.html", units=units,
                           error=error, current=current_user.unit_id, next=request.values.get("next", ""),
                           changed_unit=changed), status


@bp.post("/logga-ut")
def logout():
    row = sessions.end()
    no_store()
    if row is None:
        return redirect(url_for("auth.logged_out"), code=303)
    b = brokers().get(row.broker)
    post_logout = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for("auth.logged_out")
    form = b.end_session(row.id_token, post_logout, secrets.token_urlsafe(16)) if b else None
    if form is None:
        return redirect(url_for("auth.logged_out"), code=303)
    return render_template("auth/end_session.html", form=form)


@bp.get("/utloggad")
def logged_out():
    no_store()
    return render_template("auth/logged_out.html")


@bp.get("/utloggad/inaktivitet")
def timed_out():
    """Where a session that ended by itself lands (the timeout script knows only this address): the page
    for the reason the ending request remembered, inactivity by default."""
    no_store()
    reason = session.pop(sessions.ENDED_KEY, None)
    if reason in ENDED_PAGES and reason != sessions.TIMED_OUT:
        return redirect(url_for(ENDED_PAGES[reason]), code=303)
    return render_template("auth/timed_out.html")


@bp.get("/utloggad/tidsgrans")
def session_expired():
    no_store()
    session.pop(sessions.ENDED_KEY, None)
    hours = max(1, round(current_app.config["SESSION_ABSOLUTE_SECONDS"] / 3600))
    return render_template("auth/session_ended.html", reason=sessions.EXPIRED, hours=hours)


@bp.get("/utloggad/behorighet")
def rights_ended():
    no_store()
    session.pop(sessions.ENDED_KEY, None)
    return render_template("auth/session_ended.html", reason=sessions.RIGHTS_ENDED)


ENDED_PAGES = {sessions.TIMED_OUT: "auth.timed_out", sessions.EXPIRED: "auth.session_expired",
               sessions.RIGHTS_ENDED: "auth.rights_ended"}
# requests that go on when their session has just ended (they answer for themselves)
GO_ON_WHEN_ENDED = frozenset({"auth.timed_out", "auth.session_expired", "auth.rights_ended", "auth.session_status",
                              "auth.login", "auth.callback", "main.language"})


@bp.get("/session/status")
def session_status():
    no_store()
    row = sessions.current_row()
    if row is None:
        return jsonify(logged_in=False, remaining=0, warning=False)
    remaining = sessions.seconds_left(row)
    return jsonify(logged_in=True, remaining=remaining,
                   warning=remaining <= current_app.config["SESSION_WARNING_SECONDS"])


@bp.post("/session/forlang")
def session_extend():
    """Extending is any request that is not the status poll: this one just answers."""
    no_store()
    if sessions.current_row() is None:
        return redirect(url_for("auth.timed_out"), code=303)
    if request.headers.get("HX-Request") or request.accept_mimetypes.best == "application/json":
        return "", 204
    return redirect(safe_next(request.form.get("next")), code=303)


def _go_to(url: str):
    response = redirect(url, code=303)
    if request.headers.get("HX-Request"):
        response.headers["HX-Redirect"] = url
    return response


def _after_check(outcome: str | None, endpoint: str | None):
    """The answer to a request whose session just ended or lost its unit (None: the request goes on)."""
    if outcome is None or endpoint in GO_ON_WHEN_ENDED:
        return None
    if outcome == sessions.UNIT_CHANGED:
        if endpoint in ("auth.choose_unit", "auth.logout"):
            return None
        return _go_to(url_for("auth.choose_unit", next=request.path if request.method == "GET" else None))
    if endpoint == "auth.logout":
        return redirect(url_for("auth.logged_out"), code=303)
    return _go_to(url_for(ENDED_PAGES[outcome]))


def _broker_configs(app: Flask) -> list[BrokerConfig]:
    c = app.config
    return [
        BrokerConfig(
            name="bankid", discovery_url=c["CITIZEN_OIDC_DISCOVERY_URL"], client_id=c["CITIZEN_OIDC_CLIENT_ID"],
            client_secret=c["CITIZEN_OIDC_CLIENT_SECRET"], scope=c["CITIZEN_OIDC_SCOPE"],
            acr_values=tuple(c["CITIZEN_OIDC_ACR"]), identity_claims=tuple(c["CITIZEN_OIDC_PNR_CLAIMS"]),
            token_auth_method=c["CITIZEN_OIDC_TOKEN_AUTH"]),
        BrokerConfig(
            name="siths", discovery_url=c["STAFF_OIDC_DISCOVERY_URL"], client_id=c["STAFF_OIDC_CLIENT_ID"],
            client_secret=c["STAFF_OIDC_CLIENT_SECRET"], scope=c["STAFF_OIDC_SCOPE"],
            acr_values=tuple(c["STAFF_OIDC_ACR"]), identity_claims=tuple(c["STAFF_OIDC_HSA_CLAIMS"]),
            token_auth_method=c["STAFF_OIDC_TOKEN_AUTH"]),
    ]


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.user_loader(sessions.load_user)
    login_manager.session_protection = None  # the server-side session is the protection
    rate_limit.init_app(app)
    oauth = OAuth(app)
    app.extensions["oidc_brokers"] = {cfg.name: Broker(oauth, cfg) for cfg in _broker_configs(app)}
    origins = []
    for cfg in _broker_configs(app):
        parts = urlsplit(cfg.discovery_url)
        origins.append(f"{parts.scheme}://{parts.netloc}")
    app.config["CSP_FORM_ACTION_EXTRA"] = tuple(sorted(set(origins)))
    app.register_blueprint(bp)

    @app.before_request
    def _session_check():
        return _after_check(sessions.check_request(request.endpoint), request.endpoint)

    @app.context_processor
    def _auth_context():
        row = g.get("auth_row")
        return {"session_warning_seconds": app.config["SESSION_WARNING_SECONDS"],
                "session_poll_ms": app.config["SESSION_POLL_MS"], "logged_in": row is not None}
