"""The certificate store's HTTP API (/api/v1): journal systems, Webcert and Försäkringskassan deliver
certificates, revocations, "sent by care" and FK's questions; the portals show them on the next request.

Thin, like every blueprint: it authenticates the client (a JWT access token from the configured OAuth
authorization server, `tokens.py`), checks the operation's scope, limits the request (size, content
type, JSON nesting, rate per client), turns the body into an intake document (domain.api_contract) and
hands it to the one check-and-store step `portal load` uses (repository.intake.load). Every error is an
RFC 9457 problem document (`problems.py`). The API uses no cookies and no session, so it needs no CSRF
token; a browser's cookies are ignored.

Routes: POST /certificates, PUT /certificates/<id>/revocation, PUT /certificates/<id>/sent/<recipient>,
GET /certificates/<id>, POST /questions, GET /openapi.json, and the reference page GET /docs.
"""
from __future__ import annotations

import json
import logging
import math
import time
from typing import Any, Callable

from flask import Blueprint, Flask, Response, current_app, g, jsonify, render_template, request
from limits import parse as parse_limit

from .. import db, security
from ..domain import api_contract as contract
from ..domain import questions as question_rules
from ..repository import api as api_store
from ..repository import intake as intake_store
from ..repository import questions as question_store
from . import problems, tokens
from .problems import problem

log = logging.getLogger(__name__)

bp = Blueprint("api", __name__, url_prefix="/api/v1")
PAGES = {"api.reference"}  # the endpoints that are HTML pages, not the API


# --- configuration ----------------------------------------------------------------------------------

def init_app(app: Flask) -> None:
    base = app.config["PUBLIC_BASE_URL"].rstrip("/")
    if app.config.get("TEST_BROKER_ENABLED"):
        app.config.setdefault("API_OAUTH_ISSUER", f"{base}/testbroker/api")
    issuer, jwks_url = app.config.get("API_OAUTH_ISSUER"), app.config.get("API_OAUTH_JWKS_URL")
    keys: tokens.KeySource | None = None
    if jwks_url:
        keys = tokens.HttpKeySource(jwks_url)
    elif app.config.get("TEST_BROKER_ENABLED") and issuer == f"{base}/testbroker/api":
        from ..testbroker.provider import public_jwks

        keys = tokens.LocalKeySource(lambda: public_jwks("api"))
    app.extensions["api_keys"] = keys
    security.csrf.exempt(bp)
    app.register_blueprint(bp)


# --- the parts every operation goes through ------------------------------------------------------

class Refusal(Exception):
    def __init__(self, response: Response):
        self.response = response


def _client(scope: str) -> str:
    """The authenticated client's id, if its token is valid and has the scope; else a 401/403 problem."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    keys = current_app.extensions.get("api_keys")
    issuer = current_app.config.get("API_OAUTH_ISSUER")
    if keys is None or not issuer:
        raise Refusal(problem("unavailable", "The API's authorization server is not configured."))
    if scheme.lower() != "bearer" or not token.strip():
        raise Refusal(problem("unauthorized", "Send an access token: Authorization: Bearer <token>.",
                              headers={"WWW-Authenticate": 'Bearer realm="intygsportalen"'}))
    try:
        access = tokens.verify_access_token(
            token.strip(), keys=keys, issuer=issuer, audience=current_app.config["API_OAUTH_AUDIENCE"],
            now=current_app.extensions["clock"].timestamp())
    except tokens.KeysUnavailable:
        log.warning("api: the authorization server's keys cannot be fetched")
        raise Refusal(problem("unavailable", "The access token cannot be checked right now. Try again shortly.",
                              headers={"Retry-After": "30"})) from None
    except tokens.TokenRefused as err:
        raise Refusal(problem("unauthorized", f"The access token was refused: {err.detail}.", headers={
            "WWW-Authenticate": f'Bearer realm="intygsportalen", error="invalid_token", '
                                f'error_description="{err.detail}"'})) from None
    g.api_client = access.client_id
    _rate_limit(access.client_id)
    if scope not in access.scopes:
        raise Refusal(problem("forbidden", f"This operation needs the scope {scope}.", headers={
            "WWW-Authenticate": f'Bearer realm="intygsportalen", error="insufficient_scope", scope="{scope}"'}))
    return access.client_id


def _rate_limit(client_id: str) -> None:
    """At most API_RATE_LIMIT requests per client, in the login limiter's storage."""
    from ..auth import limiter

    if not current_app.config.get("RATELIMIT_ENABLED", True) or limiter.limiter is None:
        return
    item = parse_limit(current_app.config["API_RATE_LIMIT"])
    if not limiter.limiter.hit(item, "api", client_id):
        reset, _ = limiter.limiter.get_window_stats(item, "api", client_id)
        wait = max(1, math.ceil(reset - time.time()))  # the limiter's windows run on the real clock
        raise Refusal(problem("rate-limited", f"At most {current_app.config['API_RATE_LIMIT']} for each client. "
                              f"Try again in {wait} seconds.", headers={"Retry-After": str(wait)}))


def _depth(value: Any, limit: int) -> int:
    """The nesting depth of parsed JSON (stops counting past the limit)."""
    depth, level = 0, [(value, 1)]
    while level:
        node, d = level.pop()
        depth = max(depth, d)
        if depth > limit:
            return depth
        if isinstance(node, dict):
            level += [(v, d + 1) for v in node.values()]
        elif isinstance(node, list):
            level += [(v, d + 1) for v in node]
    return depth


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _body() -> Any:
    """The request's JSON body, within the limits, or a 4xx problem."""
    limit = current_app.config["API_MAX_BODY_BYTES"]
    if request.mimetype != "application/json":
        raise Refusal(problem("unsupported-media-type", "Send the body as Content-Type: application/json "
                              f"(got {request.mimetype or 'none'})."))
    if request.content_length is not None and request.content_length > limit:
        raise Refusal(problem("too-large", f"The body may be at most {limit} bytes."))
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise Refusal(problem("too-large", f"The body may be at most {limit} bytes."))
    max_depth = current_app.config["API_MAX_DEPTH"]
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:
        raise Refusal(problem("invalid-json", f"The JSON is nested more than {max_depth} levels deep.")) from None
    except (UnicodeDecodeError, ValueError) as err:
        where = f" (line {err.lineno}, column {err.colno})" if isinstance(err, json.JSONDecodeError) else ""
        raise Refusal(problem("invalid-json", f"The body is not valid UTF-8 JSON{where}.")) from None
    if _depth(body, max_depth) > max_depth:
        raise Refusal(problem("invalid-json", f"The JSON is nested more than {max_depth} levels deep."))
    return body


def _own(certificate_id: str, client_id: str) -> None:
    """A client acts only on certificates it registered itself; any other is 404, as an unknown one."""
    if api_store.registered_by(db.session(), certificate_id) != client_id:
        raise Refusal(problem("not-found", "There is no certificate with this id that your system registered."))


def _store(translated: contract.Translated, client_id: str, *, registered_by: str | None = None) -> str:
    """Check and store (the `portal load` step). Returns "created" or "unchanged"; else a 409/422 problem."""
    if translated.doc is None:
        raise Refusal(problem("invalid", "The request has problems: see errors.", errors=translated.errors))
    registry = current_app.extensions["certificate_types"]
    session = db.session()
    if translated.errors:  # fields the contract does not know: say so together with intake's problems
        found, _ = intake_store.intake.check(translated.doc, intake_store.existing_for(session, translated.doc),
                                             registry, update_directory=False, registered_by=registered_by)
        session.rollback()
        raise Refusal(problem("invalid", "The request has problems: see errors.",
                              errors=list(translated.errors) + contract.errors_for(found)))
    found, plan = intake_store.load(session, translated.doc, registry, update_directory=False,
                                    registered_by=registered_by)
    if found:
        errors = contract.errors_for(found)
        if contract.is_conflict(found):
            raise Refusal(problem("conflict", "Something with this id is already stored with other data; what is "
                                  "stored cannot change.", errors=errors))
        raise Refusal(problem("invalid", "The request has problems: see errors. Nothing was stored.", errors=errors))
    result = "created" if plan.changes else "unchanged"
    log.info("api: %s %s by %s", request.endpoint, result, client_id)
    return result


def _receipt(identifier: str, result: str, location: str | None = None) -> Response:
    response = jsonify({"id": identifier, "result": result})
    response.status_code = 201 if result == "created" else 200
    if location and result == "created":
        response.headers["Location"] = location
    return response


def operation(scope: str) -> Callable:
    """Authenticate, authorize, run; a Refusal anywhere becomes its problem document."""
    def wrap(view: Callable) -> Callable:
        def run(**kwargs):
            try:
                client_id = _client(scope)
                return view(client_id, **kwargs)
            except Refusal as refusal:
                return refusal.response

        run.__name__ = view.__name__
        run.__doc__ = view.__doc__
        return run
    return wrap


# --- operations -------------------------------------------------------------------------------------

@bp.post("/certificates")
@operation(contract.REGISTER)
def register_certificate(client_id: str):
    """Register a signed certificate (with its doctor, unit, provider and relation)."""
    body = _body()
    result = _store(contract.certificate_document(body), client_id, registered_by=client_id)
    cid = body["id"]
    return _receipt(cid, result, f"{bp.url_prefix}/certificates/{cid}")


@bp.put("/certificates/<certificate_id>/revocation")
@operation(contract.REVOKE)
def revoke_certificate(client_id: str, certificate_id: str):
    """Revoke a certificate the client registered."""
    _own(certificate_id, client_id)
    body = _body()
    return _receipt(certificate_id, _store(contract.revocation_document(certificate_id, body), client_id))


@bp.put("/certificates/<certificate_id>/sent/<any(FK, TS):recipient>")
@operation(contract.SENT)
def record_sent_by_care(client_id: str, certificate_id: str, recipient: str):
    """Record that care sent a certificate the client registered to its recipient."""
    _own(certificate_id, client_id)
    body = _body()
    return _receipt(certificate_id, _store(contract.care_send_document(certificate_id, recipient, body), client_id))


@bp.get("/certificates/<certificate_id>")
@operation(contract.STATUS)
def certificate_status(client_id: str, certificate_id: str):
    """A certificate's status for the system that registered it."""
    _own(certificate_id, client_id)
    response = jsonify(api_store.status(db.session(), certificate_id))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/questions")
@operation(contract.QUESTIONS)
def deliver_question(client_id: str):
    """Försäkringskassan delivers a question, reminder or komplettering request about a certificate, or its
    answer to a question the care unit asked (`in_reply_to`)."""
    body = _body()
    _check_reply(body)
    result = _store(contract.question_document(body), client_id)
    return _receipt(body["id"], result)


_REPLY_PROBLEMS = {
    question_rules.NOT_A_CARE_QUESTION: ("/in_reply_to", "must name a question the care unit asked "
                                                         "Försäkringskassan (FK answers only those)"),
    question_rules.OTHER_SUBJECT: ("/subject", "must be the subject of the question it answers"),
    question_rules.ALREADY_ANSWERED_BY_FK: ("/in_reply_to", "the question is already answered by another message"),
}


def _check_reply(body: Any) -> None:
    """FK's answer (`in_reply_to`) must answer a question the care unit asked, with its subject, once: else a
    422 (409 when another answer is stored). An unknown question is left to the intake's check."""
    if not isinstance(body, dict) or not isinstance(body.get("in_reply_to"), str):
        return
    session = db.session()
    referenced, answers = question_store.reply_context(session, body["in_reply_to"])
    session.rollback()
    if referenced is None:
        return
    refusal = question_rules.reply_refusal(str(body.get("id")), body.get("subject"), referenced, answers)
    if refusal:
        pointer, detail = _REPLY_PROBLEMS[refusal]
        name = "conflict" if refusal == question_rules.ALREADY_ANSWERED_BY_FK else "invalid"
        raise Refusal(problem(name, "The request has problems: see errors. Nothing was stored.",
                              errors=[contract.FieldError(pointer, detail)]))


@bp.get("/openapi.json")
def openapi_document():
    response = jsonify(_document())
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/docs")
def reference():
    return render_template("api/reference.html", spec=_document())


def _document() -> dict:
    from .openapi import document

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    cached = app.extensions.get("api_openapi")
    if cached is None:
        token_url = f"{app.config['API_OAUTH_ISSUER']}/token" if app.config.get("API_OAUTH_ISSUER") else None
        cached = app.extensions["api_openapi"] = document(app.extensions["certificate_types"],
                                                          token_url=app.config.get("API_OAUTH_TOKEN_URL") or token_url)
    return cached


def is_api_request() -> bool:
    """Under /api/ and not one of its HTML pages: errors are problem documents."""
    return request.path.startswith("/api/") and request.endpoint not in PAGES


def error_response(status: int) -> Response:
    return problems.for_status(status)
