"""The embedded test broker's OAuth 2.0 authorization server for API clients (development, demo, tests).

Journal systems, Webcert and Försäkringskassan are API clients of the certificate store: they get an
access token with the client credentials grant (RFC 6749 §4.4) and present it as a Bearer token. The
tokens are JWTs in the profile of RFC 9068 (`typ: at+jwt`; iss, aud, sub = client_id, client_id,
scope, iat, exp, jti), signed RS256 with the issuer's key, whose public half is served as a JWKS:
the API verifies them exactly as it would verify a production authorization server's tokens.

Each client may be given only its own scopes: a journal system cannot ask for `questions.deliver`,
Försäkringskassan cannot ask for `certificates.register`. Asking for a scope the client does not have
is `invalid_scope`; asking for none gives all of the client's scopes.
"""
from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from authlib.common.security import generate_token
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidScopeError
from authlib.oauth2.rfc6749.grants import ClientCredentialsGrant
from joserfc import jwt

from .provider import now, signing_key

ISSUER_NAME = "api"
TOKEN_LIFETIME = 300
DEFAULT_AUDIENCE = "intygsportalen-api"

REGISTER, REVOKE, SENT, STATUS, QUESTIONS = ("certificates.register", "certificates.revoke", "certificates.sent",
                                             "certificates.status", "questions.deliver")
CARE_SCOPES = (REGISTER, REVOKE, SENT, STATUS)


def default_clients() -> list[dict]:
    """The development clients (their secrets are public: they exist only with the test broker on)."""
    return [
        {"client_id": "journal-demo", "client_secret": "dev-journal-secret", "scopes": list(CARE_SCOPES),
         "name": "Journalsystem (demo)"},
        {"client_id": "webcert-demo", "client_secret": "dev-webcert-secret", "scopes": list(CARE_SCOPES),
         "name": "Webcert (demo)"},
        {"client_id": "fk-demo", "client_secret": "dev-fk-secret", "scopes": [QUESTIONS],
         "name": "Försäkringskassan (demo)"},
    ]


@dataclass
class ApiClient:
    client_id: str
    client_secret: str
    scopes: list[str] = field(default_factory=list)
    name: str = ""

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"

    def get_allowed_scope(self, scope: str | None) -> str:
        requested = (scope or "").split()
        return " ".join(requested) if requested else " ".join(self.scopes)


class CredentialsGrant(ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client = self.request.client
        extra = set((self.request.payload.scope or "").split()) - set(client.scopes)
        if extra:
            raise InvalidScopeError(f"The client may not have: {' '.join(sorted(extra))}")


class ApiIssuer(AuthorizationServer):
    """The authorization server at {PUBLIC_BASE_URL}/testbroker/api."""

    def __init__(self, issuer: str, clients: list[dict], audience: str = DEFAULT_AUDIENCE):
        super().__init__()
        self.issuer, self.audience = issuer, audience
        self.clients = {c["client_id"]: ApiClient(**c) for c in clients}
        self.scopes_supported = sorted({s for c in self.clients.values() for s in c.scopes})
        self.register_token_generator("default", self.access_token)
        self.register_grant(CredentialsGrant)

    def query_client(self, client_id: str) -> ApiClient | None:
        return self.clients.get(client_id)

    def save_token(self, token: dict, request) -> None:
        pass  # self-contained JWTs: nothing to remember

    def access_token(self, grant_type: str, client: ApiClient, user=None, scope: str | None = None,
                     expires_in: int | None = None, include_refresh_token: bool = True) -> dict:
        scope = client.get_allowed_scope(scope)  # none asked for: all of the client's scopes
        issued = now()
        key = signing_key(ISSUER_NAME)
        claims = {"iss": self.issuer, "sub": client.client_id, "client_id": client.client_id, "aud": self.audience,
                  "scope": scope or "", "iat": issued, "exp": issued + TOKEN_LIFETIME, "jti": generate_token(24)}
        token = jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}, claims, key)
        return {"token_type": "Bearer", "access_token": token, "expires_in": TOKEN_LIFETIME, "scope": scope or ""}

    def metadata(self) -> dict:
        """RFC 8414 authorization server metadata."""
        return {
            "issuer": self.issuer,
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": self.scopes_supported,
            "response_types_supported": [],
        }
