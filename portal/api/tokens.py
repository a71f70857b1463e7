"""Verifying the API's bearer tokens: JWT access tokens (RFC 9068) from the configured authorization
server, checked completely with joserfc, as the login checks ID tokens: signature against the issuer's
JWKS, `typ` at+jwt, iss, aud, exp, iat, nbf, and the client id; the scopes come from `scope`.

The issuer's keys come from a KeySource: over HTTP from its JWKS URL (cached; fetched again when a
token names a key the cache does not have, at most every REFETCH_SECONDS), or, with the embedded test
broker, the same keys read in-process (the test client has no network).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet, KeySetSerialization

LEEWAY = 60
CACHE_SECONDS = 300
REFETCH_SECONDS = 30
ACCEPTED_TYP = {"at+jwt", "application/at+jwt"}


class TokenRefused(Exception):
    """The token is missing, malformed, not ours, or expired. `detail` is safe to show the client."""

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class KeysUnavailable(Exception):
    """The issuer's keys cannot be fetched (the request cannot be authenticated now: 503)."""


@dataclass(frozen=True)
class AccessToken:
    client_id: str
    scopes: frozenset[str]


class KeySource:
    def keys(self, *, refresh: bool = False) -> KeySetSerialization:
        raise NotImplementedError


class LocalKeySource(KeySource):
    """Keys from a function (the embedded test broker's own JWKS)."""

    def __init__(self, load: Callable[[], KeySetSerialization]):
        self.load = load

    def keys(self, *, refresh: bool = False) -> KeySetSerialization:
        return self.load()


class HttpKeySource(KeySource):
    """The issuer's JWKS over HTTP, cached for CACHE_SECONDS."""

    def __init__(self, url: str, timeout: float = 5.0):
        self.url, self.timeout = url, timeout
        self._jwks: KeySetSerialization | None = None
        self._fetched = 0.0
        self._lock = threading.Lock()

    def keys(self, *, refresh: bool = False) -> KeySetSerialization:
        with self._lock:
            age = time.monotonic() - self._fetched
            if self._jwks is None or age > CACHE_SECONDS or (refresh and age > REFETCH_SECONDS):
                try:
                    response = requests.get(self.url, timeout=self.timeout)
                    response.raise_for_status()
                    jwks = response.json()
                except (requests.RequestException, ValueError) as err:
                    if self._jwks is None:
                        raise KeysUnavailable(type(err).__name__) from None
                    return self._jwks  # keep the keys we have
                self._jwks, self._fetched = jwks, time.monotonic()
            return self._jwks


def verify_access_token(token: str, *, keys: KeySource, issuer: str, audience: str, now: int,
                        algorithms: tuple[str, ...] = ("RS256", "ES256", "PS256")) -> AccessToken:
    """Verify a bearer token completely; return the client and its scopes, or raise TokenRefused."""
    decoded = None
    for refresh in (False, True):  # the issuer may have rotated its keys: fetch them once more
        try:
            key_set = KeySet.import_key_set(keys.keys(refresh=refresh))
            decoded = jwt.decode(token, key_set, algorithms=list(algorithms))
            break
        except (JoseError, ValueError, TypeError):
            continue
    if decoded is None:
        raise TokenRefused("the token is not a valid signed JWT from the authorization server")
    if str(decoded.header.get("typ", "")).lower() not in ACCEPTED_TYP:
        raise TokenRefused("the token is not an access token (typ at+jwt)")
    claims = decoded.claims
    if claims.get("iss") != issuer:
        raise TokenRefused("the token is from another issuer")
    aud = claims.get("aud")
    if audience not in ([aud] if isinstance(aud, str) else list(aud or [])):
        raise TokenRefused("the token is for another audience")
    exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
    if not isinstance(exp, (int, float)) or exp + LEEWAY < now:
        raise TokenRefused("the token has expired")
    if not isinstance(iat, (int, float)) or iat - LEEWAY > now:
        raise TokenRefused("the token is issued in the future")
    if nbf is not None and (not isinstance(nbf, (int, float)) or nbf - LEEWAY > now):
        raise TokenRefused("the token is not valid yet")
    client_id = claims.get("client_id") or claims.get("sub")
    if not isinstance(client_id, str) or not client_id:
        raise TokenRefused("the token names no client")
    scope = claims.get("scope", "")
    if not isinstance(scope, str):
        raise TokenRefused("the token's scope is malformed")
    return AccessToken(client_id, frozenset(scope.split()))
