"""The embedded OpenID Connect test broker (development, demo and tests only).

Two issuers, `bankid` (citizens) and `siths` (staff), at `{PUBLIC_BASE_URL}/testbroker/<idp>`, each
with discovery, JWKS, authorize (a login page listing the demo identities), token (PKCE S256 for
every client) and end-session. The portal logs in through it with the same client code as in
production.

Configuration (app.config; defaults filled in by `init_app`):
- `PUBLIC_BASE_URL`: the issuer of idp X is f"{PUBLIC_BASE_URL}/testbroker/{X}".
- `TEST_BROKER_CLIENTS`: {"bankid": [client, ...], "siths": [...]}, each client a dict with
  client_id, client_secret, redirect_uris and post_logout_redirect_uris.

Fault knobs for tests (Python only, no HTTP endpoint): `app.extensions["testbroker"].faults`, a dict,
empty by default, read each time an ID token is issued:
- `sign_with_foreign_key: True` – sign with a key that is not in the JWKS but has the same kid;
- `aud`, `iss`, `acr` – replace that claim with the given value;
- `exp_offset` – seconds added to `exp` (e.g. -600 for a token that has already expired);
- `nonce` – replace the nonce; the string "__omit__" drops the claim;
- `claims` – a dict merged in last, so it may override or add any claim.
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from flask import Blueprint, Flask, current_app, jsonify, render_template, request
from flask_babel import gettext as _

from .. import security
from ..domain.demo import hsa
from . import api_issuer, identities
from . import provider as provider_module
from .provider import IDPS, OMIT, Provider, public_jwks

__all__ = ["bp", "init_app", "a11y_examples", "OMIT"]

bp = Blueprint("testbroker", __name__, url_prefix="/testbroker")
IDP = "<any(bankid, siths):idp>"
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
# the authorization request's parameters, carried through the login form in hidden fields
AUTH_PARAMS = ("response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "code_challenge",
               "code_challenge_method", "prompt", "acr_values", "ui_locales", "login_hint")


class Broker:
    """The broker's state in app.extensions["testbroker"]: one provider per issuer, and the faults."""

    def __init__(self, base_url: str, clients: dict[str, list[dict]], api_clients: list[dict] | None = None,
                 api_audience: str = api_issuer.DEFAULT_AUDIENCE):
        self.faults: dict = {}
        self.providers = {name: Provider(idp, f"{base_url}/testbroker/{name}", clients.get(name, []), self)
                          for name, idp in IDPS.items()}
        # the authorization server for API clients (client credentials, JWT access tokens)
        self.api = api_issuer.ApiIssuer(f"{base_url}/testbroker/api",
                                        api_issuer.default_clients() if api_clients is None else api_clients,
                                        api_audience)


def default_clients(base: str) -> dict[str, list[dict]]:
    def client(idp: str, client_id: str, secret: str) -> dict:
        return {"client_id": client_id, "client_secret": secret,
                "redirect_uris": [f"{base}/inloggning/{idp}/callback"],
                "post_logout_redirect_uris": [f"{base}/utloggad"]}

    return {"bankid": [client("bankid", "intygsportalen-citizen", "dev-citizen-secret")],
            "siths": [client("siths", "intygsportalen-staff", "dev-staff-secret")]}


def init_app(app: Flask) -> Broker:
    base = app.config.setdefault("PUBLIC_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
    if not app.config.get("TESTING"):  # several server processes must share the issuers' keys
        key_file = app.config.get("TEST_BROKER_KEY_FILE") or Path(app.instance_path) / "testbroker-keys.json"
        provider_module.use_key_file(Path(key_file))
    clients = app.config.setdefault("TEST_BROKER_CLIENTS", default_clients(base))
    broker = app.extensions["testbroker"] = Broker(base, clients, app.config.get("TEST_BROKER_API_CLIENTS"),
                                                   app.config.get("API_OAUTH_AUDIENCE", api_issuer.DEFAULT_AUDIENCE))
    app.register_blueprint(bp)
    return broker


def provider(idp: str) -> Provider:
    return current_app.extensions["testbroker"].providers[idp]


def today() -> date:
    return current_app.extensions["clock"].today()


# --- endpoints ------------------------------------------------------------------------------------

@bp.get(f"/{IDP}/.well-known/openid-configuration")
def discovery(idp: str):
    return jsonify(provider(idp).metadata())


@bp.get(f"/{IDP}/jwks")
def jwks(idp: str):
    return jsonify(public_jwks(idp))


@bp.get(f"/{IDP}/authorize")
def authorize(idp: str):
    server = provider(idp)
    try:
        consent_grant(server)
    except OAuth2Error as error:
        return refuse(server, error)
    return login_page(idp, request.args)


@bp.post(f"/{IDP}/authorize")
def authorize_submit(idp: str):
    """The login form: the parameters are validated again, then a code (or access_denied) is sent back."""
    server = provider(idp)
    try:
        grant = consent_grant(server)
    except OAuth2Error as error:
        return refuse(server, error)
    form = request.form
    if form.get("action") == "cancel":
        return server.create_authorization_response(grant=grant, grant_user=None)
    user = identities.chosen(idp, form.get("identity"), form.get("other_value"), today())
    if user is None:
        field = "other-value" if form.get("identity") == identities.OTHER else "identity-1"
        return login_page(idp, form, error_field=field), 400
    return server.create_authorization_response(grant=grant, grant_user=user)


def consent_grant(server: Provider):
    """Authlib's validation of the authorization request (the GET, or the login form's POST)."""
    try:
        return server.get_consent_grant(end_user=None)
    except ValueError as error:  # Authlib cannot quote a value with characters RFC 6749 bans in errors
        if "forbidden characters" not in str(error):
            raise
        raise InvalidRequestError("The request has characters that are not allowed.") from error


@bp.post(f"/{IDP}/token")
def token(idp: str):
    return provider(idp).create_token_response()


security.csrf.exempt(token)


# --- the authorization server for API clients -------------------------------------------------------

def api_server() -> api_issuer.ApiIssuer:
    return current_app.extensions["testbroker"].api


@bp.get("/api/.well-known/oauth-authorization-server")
def api_metadata():
    return jsonify(api_server().metadata())


@bp.get("/api/jwks")
def api_jwks():
    return jsonify(public_jwks(api_issuer.ISSUER_NAME))


@bp.post("/api/token")
def api_token():
    return api_server().create_token_response()


security.csrf.exempt(api_token)


@bp.route(f"/{IDP}/logout", methods=["GET", "POST"])
def logout(idp: str):
    """End session (GET or a form POST from the client, as the spec allows): back to a registered
    post_logout_redirect_uri when the id_token_hint is ours, otherwise a page."""
    server = provider(idp)
    try:
        end_session = server.validate_endpoint_request("end_session")
    except OAuth2Error:
        end_session = None
    if end_session is not None and end_session.redirect_uri:
        return server.create_endpoint_response("end_session", end_session)
    return render_template("testbroker/logged_out.html")


security.csrf.exempt(logout)  # the client's own page posts here, without our CSRF token


# --- pages ----------------------------------------------------------------------------------------

def refuse(server: Provider, error: OAuth2Error):
    """Back to the client with error= when its redirect_uri is known good; otherwise a page."""
    if error.redirect_uri:
        return server.handle_error_response(None, error)
    return render_template("testbroker/error.html", description=error.description or error.error), 400


def login_page(idp: str, params, error_field: str | None = None):
    security.no_store()
    bankid = idp == "bankid"
    errors = []
    if error_field == "other-value":
        errors.append({"field": "other-value", "message": _("Skriv ett personnummer med 12 siffror") if bankid
                       else _("Skriv ett HSA-id")})
    elif error_field:
        errors.append({"field": error_field, "message": _("Välj en testperson")})
    return render_template(
        "testbroker/login.html", idp=idp, bankid=bankid, errors=errors,
        heading=_("Logga in med BankID") if bankid else _("Logga in med SITHS-kort"),
        people=identities.choices(idp, today()), example_hsa_id=hsa("L001"),
        hidden=[(name, params[name]) for name in AUTH_PARAMS if params.get(name)],
        chosen=params.get("identity"), other_value=params.get("other_value", ""))


def a11y_examples(app: Flask) -> list[tuple[str, dict]]:
    """Pages for the accessibility crawl: a valid login page per issuer, and the end-session page."""
    examples: list[tuple[str, dict]] = []
    for name, server in app.extensions["testbroker"].providers.items():
        client = next(iter(server.clients.values()))
        examples.append(("testbroker.authorize", {
            "idp": name, "client_id": client.client_id, "redirect_uri": client.redirect_uris[0],
            "response_type": "code", "scope": " ".join(server.idp.scopes), "state": "a11y-example-state",
            "nonce": "a11y-example-nonce", "code_challenge": create_s256_code_challenge("a11y-" + "v" * 43),
            "code_challenge_method": "S256"}))
    examples.append(("testbroker.logout", {"idp": "bankid"}))
    return examples
