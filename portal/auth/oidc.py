"""The portal as an OpenID Connect client of two brokers (BankID for citizens, SITHS for staff).

Authlib does the protocol plumbing: discovery, the authorization URL with PKCE S256 and state,
the token request with client authentication. The ID token is verified here, completely, with
joserfc: signature against the broker's JWKS, iss, aud (and azp), exp, iat, nonce and acr against
an allow-list (Authlib's own check covers only iss, and drops even that with claims_options).

The callback's query string is the attacker's to choose: it is checked before anything else (printable
ASCII, at most MAX_PARAM characters), the login in progress must exist, be this broker's and be younger
than LOGIN_FLOW_SECONDS, and `state` must match it before an `error` is believed. Bad input is a 400
refusal, never a 500, and what reaches the log of it is short and escaped (logsafe.escaped).
"""
from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass, field

from authlib.integrations.flask_client import OAuth
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

from .logsafe import escaped

log = logging.getLogger(__name__)

LEEWAY = 60  # seconds of clock skew accepted on exp/iat
LOGIN_FLOW_SECONDS = 15 * 60  # a login started longer ago than this cannot be finished
MAX_PARAM = 2048  # the longest callback parameter accepted (codes and states are far shorter)
CALLBACK_PARAMS = ("state", "code", "error")  # checked; the others are never read nor logged


class LoginRefused(Exception):
    """The login cannot go on. `reason` is a code for the refusal page; `detail` is for the log (never raw
    text from the request: escaped with logsafe.escaped); `status` the page's HTTP status (400 for bad
    callback input, 403 for a refused login, 503 when the broker cannot be reached)."""

    def __init__(self, reason: str, detail: str = "", status: int = 403):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.status = status


def bad_callback(detail: str) -> LoginRefused:
    return LoginRefused("state", detail, status=400)


def _printable_ascii(value: str) -> bool:
    return all(" " <= c <= "~" for c in value)


def check_callback_args(args: dict[str, list[str]]) -> dict[str, str]:
    """The callback parameters the portal reads, each once, printable ASCII and not too long."""
    out = {}
    for name in CALLBACK_PARAMS:
        values = args.get(name) or []
        if len(values) > 1:
            raise bad_callback(f"{name} given {len(values)} times")
        if not values:
            continue
        value = values[0]
        if len(value) > MAX_PARAM:
            raise bad_callback(f"{name} too long ({len(value)} characters)")
        if not _printable_ascii(value):
            raise bad_callback(f"{name} not printable ASCII: {escaped(value, 32)}")
        out[name] = value
    return out


@dataclass(frozen=True)
class BrokerConfig:
    name: str  # bankid | siths
    discovery_url: str
    client_id: str
    client_secret: str
    scope: str
    acr_values: tuple[str, ...]
    identity_claims: tuple[str, ...]  # the first present claim is the identity
    token_auth_method: str = "client_secret_basic"
    extra_authorize_params: dict = field(default_factory=dict)


def verify_id_token(id_token: str, *, jwks: KeySetSerialization, issuer: str, client_id: str, nonce: str,
                    acr_values: tuple[str, ...], now: int, algorithms: tuple[str, ...] = ("RS256",)) -> dict:
    """Verify an ID token completely; return its claims or raise LoginRefused."""
    try:
        token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=list(algorithms))
    except (JoseError, ValueError) as err:
        raise LoginRefused("token_invalid", f"signature or format: {type(err).__name__}") from None
    claims = token.claims
    if claims.get("iss") != issuer:
        raise LoginRefused("token_invalid", "wrong iss")
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else list(aud or [])
    if client_id not in audiences:
        raise LoginRefused("token_invalid", "wrong aud")
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise LoginRefused("token_invalid", "several audiences and azp is not us")
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, (int, float)) or exp + LEEWAY < now:
        raise LoginRefused("token_invalid", "expired")
    if not isinstance(iat, (int, float)) or iat - LEEWAY > now:
        raise LoginRefused("token_invalid", "issued in the future")
    got_nonce = claims.get("nonce")
    if not isinstance(got_nonce, str) or not hmac.compare_digest(got_nonce, nonce):
        raise LoginRefused("token_invalid", "wrong or missing nonce")
    if claims.get("acr") not in acr_values:
        raise LoginRefused("assurance", "acr not accepted")
    return dict(claims)


class Broker:
    """One configured broker: start a login, finish it, build the end-session request."""

    def __init__(self, oauth: OAuth, config: BrokerConfig):
        self.config = config
        self.client = oauth.register(
            name=config.name,
            client_id=config.client_id,
            client_secret=config.client_secret,
            server_metadata_url=config.discovery_url,
            client_kwargs={"scope": config.scope, "code_challenge_method": "S256",
                           "token_endpoint_auth_method": config.token_auth_method},
        )

    @property
    def metadata(self) -> dict:
        return self.client.load_server_metadata()

    def start(self, redirect_uri: str, now: int) -> tuple[str, dict]:
        """The broker URL to send the browser to, and what to keep until the callback."""
        try:
            nonce = secrets.token_urlsafe(32)
            rv = self.client.create_authorization_url(
                redirect_uri, nonce=nonce, state=secrets.token_urlsafe(32), prompt="login",
                acr_values=" ".join(self.config.acr_values), **self.config.extra_authorize_params)
        except Exception as err:  # the broker cannot be reached
            log.warning("broker %s unreachable at login start: %s", self.config.name, type(err).__name__)
            raise LoginRefused("broker_unavailable", str(type(err).__name__), status=503) from None
        pending = {"broker": self.config.name, "state": rv["state"], "nonce": rv["nonce"],
                   "code_verifier": rv["code_verifier"], "redirect_uri": redirect_uri, "started": now}
        return rv["url"], pending

    def check_flow(self, args: dict[str, str], pending: dict | None, now: int) -> None:
        """The callback belongs to the login in progress in this browser, or LoginRefused (400)."""
        if not isinstance(pending, dict) or pending.get("broker") != self.config.name:
            raise bad_callback("no login in progress")
        started = pending.get("started")
        if not isinstance(started, int) or not 0 <= now - started <= LOGIN_FLOW_SECONDS:
            raise bad_callback("the login in progress has expired")
        state, expected = args.get("state"), pending.get("state")
        if not state or not isinstance(expected, str) or not hmac.compare_digest(state.encode(), expected.encode()):
            raise bad_callback("state does not match")

    def finish(self, query: dict[str, list[str]], pending: dict | None, now: int) -> tuple[dict, str]:
        """Check the callback, exchange the code, verify the ID token. Returns (claims, id_token).
        `query` is the callback's query string with every value of each parameter."""
        args = check_callback_args(query)
        self.check_flow(args, pending, now)
        assert pending is not None  # check_flow refuses a callback without a login in progress
        if args.get("error"):
            reason = "cancelled" if args["error"] == "access_denied" else "broker_error"
            raise LoginRefused(reason, f"broker said {escaped(args['error'], 32)}")
        code = args.get("code")
        if not code:
            raise LoginRefused("broker_error", "no code", status=400)
        try:
            token = self.client.fetch_access_token(redirect_uri=pending["redirect_uri"], code=code,
                                                   code_verifier=pending["code_verifier"])
        except Exception as err:  # invalid_grant (replayed code, wrong verifier), network
            raise LoginRefused("token_exchange",
                               f"{type(err).__name__}: {escaped(getattr(err, 'error', ''), 32)}") from None
        id_token = token.get("id_token")
        if not id_token:
            raise LoginRefused("token_invalid", "no id_token")
        kwargs = dict(issuer=self.metadata.get("issuer"), client_id=self.config.client_id, nonce=pending["nonce"],
                      acr_values=self.config.acr_values, now=now,
                      algorithms=tuple(self.metadata.get("id_token_signing_alg_values_supported") or ("RS256",)))
        try:
            claims = verify_id_token(id_token, jwks=self.client.fetch_jwk_set(), **kwargs)
        except LoginRefused as first:
            if first.detail.startswith("signature"):  # the broker may have rotated its keys: fetch once more
                claims = verify_id_token(id_token, jwks=self.client.fetch_jwk_set(force=True), **kwargs)
            else:
                raise
        return claims, id_token

    def identity(self, claims: dict) -> str | None:
        for name in self.config.identity_claims:
            value = claims.get(name)
            if isinstance(value, str) and value:
                return value
        return None

    def end_session(self, id_token: str | None, post_logout_redirect_uri: str, state: str) -> dict | None:
        """The end-session request as form fields for a POST (the ID token carries the personnummer,
        so it never goes in a URL). None when the broker has no end-session endpoint."""
        try:
            endpoint = self.metadata.get("end_session_endpoint")
        except Exception:
            return None
        if not endpoint:
            return None
        fields = {"client_id": self.config.client_id, "post_logout_redirect_uri": post_logout_redirect_uri,
                  "state": state}
        if id_token:
            fields["id_token_hint"] = id_token
        return {"action": endpoint, "fields": fields}
