"""The OpenID Connect provider behind the embedded test broker, built on Authlib's server side.

One `Provider` (an Authlib `AuthorizationServer`) per issuer. Authorization codes live in memory
(single use, 60 s), ID tokens are RS256 with a 5-minute lifetime, and every time comes from the
app's clock so that tests with a FixedClock agree with the portal.
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidRequestError, InvalidScopeError
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from authlib.oidc.core.util import create_half_hash
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import current_app
from joserfc import jwt
from joserfc.jwk import KeySet, KeySetSerialization, RSAKey

CODE_LIFETIME = 60
TOKEN_LIFETIME = 300
OMIT = "__omit__"
PNR_CLAIM = "https://id.oidc.se/claim/personalIdentityNumber"
COORDINATION_CLAIM = "https://id.oidc.se/claim/coordinationNumber"
HSA_CLAIM = "employeeHsaId"


@dataclass(frozen=True)
class Idp:
    """What differs between the two issuers."""

    name: str
    acr: str
    scopes: tuple[str, ...]
    claims: tuple[str, ...]


NAME_CLAIMS = ("given_name", "family_name", "name")
COMMON_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "at_hash") + NAME_CLAIMS
IDPS = {
    "bankid": Idp("bankid", "http://id.elegnamnden.se/loa/1.0/loa3",
                  ("openid", "profile", "https://id.oidc.se/scope/naturalPersonNumber",
                   "https://id.oidc.se/scope/naturalPersonInfo"),
                  COMMON_CLAIMS + (PNR_CLAIM, COORDINATION_CLAIM)),
    "siths": Idp("siths", "http://id.sambi.se/loa/loa3", ("openid", "profile"), COMMON_CLAIMS + (HSA_CLAIM,)),
}


# --- keys: one per issuer and process (tests make many apps), plus a foreign one with the same kid --

_keys: dict[tuple[str, bool], RSAKey] = {}
_keys_lock = threading.Lock()
_key_file: Path | None = None


def use_key_file(path: Path | None) -> None:
    """Keep the issuers' keys in this file (the embedded default: instance/), so that every process of a
    multi-process server signs and verifies with the same keys. Without it (tests), keys live in memory."""
    global _key_file
    with _keys_lock:
        _key_file = path


def _stored_key(idp: str) -> RSAKey:
    """The issuer's key from the key file, made and added under a file lock if it is not there yet."""
    assert _key_file is not None
    _key_file.parent.mkdir(parents=True, exist_ok=True)
    with open(_key_file.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            stored = json.loads(_key_file.read_text()) if _key_file.exists() else {}
            if idp not in stored:
                key = RSAKey.generate_key(2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)
                stored[idp] = key.as_dict(private=True)
                tmp = _key_file.with_suffix(".tmp")
                tmp.write_text(json.dumps(stored))
                tmp.chmod(0o600)
                os.replace(tmp, _key_file)
            return RSAKey.import_key(stored[idp])
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def signing_key(idp: str, foreign: bool = False) -> RSAKey:
    """The issuer's RSA key; `foreign=True` gives a key outside the JWKS that claims the same kid."""
    with _keys_lock:
        if (idp, False) not in _keys:
            _keys[(idp, False)] = _stored_key(idp) if _key_file is not None else RSAKey.generate_key(
                2048, parameters={"use": "sig", "alg": "RS256"}, auto_kid=True)
        if foreign and (idp, True) not in _keys:
            kid = _keys[(idp, False)].kid
            assert kid is not None  # every issuer key has a kid (auto_kid, or read from the key file)
            _keys[(idp, True)] = RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})
        return _keys[(idp, foreign)]


def public_jwks(idp: str) -> KeySetSerialization:
    return KeySet([signing_key(idp)]).as_dict(private=False)


def now() -> int:
    return current_app.extensions["clock"].timestamp()


# --- the models Authlib asks for ----------------------------------------------------------------

@dataclass
class Client:
    """A registered confidential client (client_secret_basic or client_secret_post)."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str] = field(default_factory=list)

    @property
    def client_metadata(self) -> dict:
        return {"post_logout_redirect_uris": self.post_logout_redirect_uris}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None  # OpenID Connect: the request must name its redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class AuthCode:
    """An issued authorization code and everything the token request needs."""

    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str
    code_challenge: str
    code_challenge_method: str
    user: dict[str, Any]  # the identity claims chosen on the login page
    auth_time: int
    expires_at: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class CodeStore:
    """Issued codes, in memory. Taking a code removes it, so it can be used only once."""

    def __init__(self) -> None:
        self._codes: dict[str, AuthCode] = {}
        self._lock = threading.Lock()

    def put(self, code: AuthCode) -> None:
        with self._lock:
            self._codes = {k: c for k, c in self._codes.items() if c.expires_at > code.auth_time}
            self._codes[code.code] = code

    def take(self, code: str, client_id: str) -> AuthCode | None:
        with self._lock:
            found = self._codes.pop(code, None)
        if found is None or found.client_id != client_id or found.expires_at <= now():
            return None
        return found


# --- the grant, with the checks Authlib leaves to us ---------------------------------------------

class CodeGrant(AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_authorization_request(self) -> str:
        payload = self.request.payload
        if not payload.redirect_uri:  # no redirect: the error page says so
            raise InvalidRequestError("Missing 'redirect_uri'.")
        redirect_uri = super().validate_authorization_request()
        if "openid" not in (payload.scope or "").split():
            raise InvalidScopeError("The scope must include 'openid'.", redirect_uri=redirect_uri)
        if not payload.state:
            raise InvalidRequestError("Missing 'state'.", redirect_uri=redirect_uri)
        # CodeChallenge(required=True) enforces PKCE only for public clients: demand S256 from all.
        if not payload.data.get("code_challenge") or payload.data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE with code_challenge_method=S256 is required.",
                                      redirect_uri=redirect_uri)
        return redirect_uri

    def save_authorization_code(self, code: str, request) -> None:
        data, issued = request.payload.data, now()
        self.server.codes.put(AuthCode(
            code=code, client_id=request.client.get_client_id(), redirect_uri=request.payload.redirect_uri,
            scope=request.scope, nonce=data["nonce"], code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"], user=request.user, auth_time=issued,
            expires_at=issued + CODE_LIFETIME))

    def query_authorization_code(self, code: str, client: Client) -> AuthCode | None:
        return self.server.codes.take(code, client.get_client_id())

    def delete_authorization_code(self, authorization_code: AuthCode) -> None:
        pass  # taken (removed) when it was looked up

    def authenticate_user(self, authorization_code: AuthCode) -> dict:
        return authorization_code.user


class IdToken(OpenIDCode):
    """Adds the ID token to the token response, built by the provider (clock, faults)."""

    def __init__(self, provider: Provider):
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request) -> bool:
        return False  # replayed nonces are the client's to detect

    def encode_id_token(self, token: dict, request) -> str:
        return self.provider.id_token(request.client, request.authorization_code, token["access_token"])


class EndSession(EndSessionEndpoint):
    def get_server_jwks(self) -> KeySet:
        return KeySet([signing_key(self.server.idp.name)])

    def get_algorithms(self) -> list[str]:
        return ["RS256"]

    def resolve_client_from_id_token_claims(self, claims: dict) -> Client | None:
        aud = claims.get("aud")
        aud = [aud] if isinstance(aud, str) else list(aud or [])
        return self.server.query_client(aud[0]) if len(aud) == 1 else None

    def end_session(self, end_session_request) -> None:
        pass  # the broker keeps no login session of its own


# --- one issuer -----------------------------------------------------------------------------------

class Provider(AuthorizationServer):
    """One issuer: its clients, codes, keys and ID tokens."""

    def __init__(self, idp: Idp, issuer: str, clients: list[dict], broker):
        super().__init__()
        self.idp, self.issuer, self.broker = idp, issuer, broker
        self.clients = {c["client_id"]: Client(**c) for c in clients}
        self.codes = CodeStore()
        self.scopes_supported = list(idp.scopes)
        self.register_token_generator("default", BearerTokenGenerator(
            lambda **_: generate_token(42), expires_generator=TOKEN_LIFETIME))
        self.register_grant(CodeGrant, [CodeChallenge(required=True), IdToken(self)])
        self.register_endpoint(EndSession)

    def query_client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def save_token(self, token: dict, request) -> None:
        pass  # no userinfo endpoint: the access token is never presented back

    def id_token(self, client: Client, code: AuthCode, access_token: str) -> str:
        issued = now()
        claims = {"iss": self.issuer, "sub": subject(self.idp.name, code.user), "aud": [client.client_id],
                  "iat": issued, "exp": issued + TOKEN_LIFETIME, "auth_time": code.auth_time,
                  "nonce": code.nonce, "acr": self.idp.acr,
                  "at_hash": create_half_hash(access_token, "RS256").decode()}
        claims.update(code.user)
        faults = self.broker.faults
        key = signing_key(self.idp.name, foreign=bool(faults.get("sign_with_foreign_key")))
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, apply_faults(claims, faults), key)

    def metadata(self) -> dict:
        """The discovery document."""
        base = self.issuer
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
            "end_session_endpoint": f"{base}/logout",
            "scopes_supported": list(self.idp.scopes),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "acr_values_supported": [self.idp.acr],
            "claims_supported": list(self.idp.claims),
            "ui_locales_supported": ["sv", "en"],
        }


def subject(idp: str, user: dict) -> str:
    """A stable, non-identifying `sub`: a hash of the issuer and the identity, never the number itself."""
    identity = user.get(PNR_CLAIM) or user.get(COORDINATION_CLAIM) or user.get(HSA_CLAIM) or ""
    return hashlib.sha256(f"{idp}:{identity}".encode()).hexdigest()


def apply_faults(claims: dict, faults: dict) -> dict:
    """The claims as the fault knobs (see the package docstring) change them."""
    claims = dict(claims)
    for name in ("aud", "iss", "acr"):
        if name in faults:
            claims[name] = faults[name]
    if "exp_offset" in faults:
        claims["exp"] += int(faults["exp_offset"])
    if "nonce" in faults:
        if faults["nonce"] == OMIT:
            claims.pop("nonce", None)
        else:
            claims["nonce"] = faults["nonce"]
    claims.update(faults.get("claims") or {})
    return claims
