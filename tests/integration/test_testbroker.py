"""The embedded OpenID Connect test broker: discovery, JWKS, the login page, the code flow with PKCE,
ID tokens, the fault knobs and end-session – all through the Flask test client."""
from __future__ import annotations

import html
import re
import secrets
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.discovery import OpenIDProviderMetadata
from flask import url_for
from joserfc import jwt
from joserfc.errors import BadSignatureError, InvalidKeyIdError
from joserfc.jwk import KeySet

from conftest import NOW, make_test_app
from portal import db, testbroker

BASE = "http://localhost"
PNR = "https://id.oidc.se/claim/personalIdentityNumber"
COORDINATION = "https://id.oidc.se/claim/coordinationNumber"
CLIENTS = {
    "bankid": ("intygsportalen-citizen", "dev-citizen-secret", f"{BASE}/inloggning/bankid/callback"),
    "siths": ("intygsportalen-staff", "dev-staff-secret", f"{BASE}/inloggning/siths/callback"),
}
SCOPES = {"bankid": "openid https://id.oidc.se/scope/naturalPersonNumber", "siths": "openid"}
ORDINARY = "198503149828"  # Tolva Demosson, the first demo citizen
DOCTOR = "TSTNMT2321000156-L001"  # Anna Berglund, the first demo staff member


@pytest.fixture
def app(db_url):
    app = make_test_app(db_url, TEST_BROKER_ENABLED=True, PUBLIC_BASE_URL=BASE)
    if "testbroker" not in app.blueprints:
        testbroker.init_app(app)
    yield app
    db.get_engine(app).dispose()


@pytest.fixture
def faults(app) -> dict:
    return app.extensions["testbroker"].faults


# --- helpers: a client of the broker, as the portal is ----------------------------------------------

def auth_request(idp: str, **overrides) -> tuple[dict, str]:
    """A valid authorization request (query parameters) and its PKCE verifier."""
    verifier = secrets.token_urlsafe(48)
    client_id, _, redirect_uri = CLIENTS[idp]
    params = {"client_id": client_id, "redirect_uri": redirect_uri, "response_type": "code", "scope": SCOPES[idp],
              "state": secrets.token_urlsafe(24), "nonce": secrets.token_urlsafe(24), "prompt": "login",
              "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"}
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}, verifier


def hidden_fields(page: str) -> dict:
    return {name: html.unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}


def submit(client, idp: str, params: dict, **form) -> object:
    """Open the login page and submit its form (hidden fields included) with the given choices."""
    page = client.get(f"/testbroker/{idp}/authorize", query_string=params)
    assert page.status_code == 200, page.get_data(as_text=True)
    data = hidden_fields(page.get_data(as_text=True))
    data.update(form)
    return client.post(f"/testbroker/{idp}/authorize", data=data)


def redirect_params(response) -> dict:
    assert response.status_code == 302, response.get_data(as_text=True)
    parts = urlsplit(response.headers["Location"])
    return {k: v[0] for k, v in parse_qs(parts.query).items()} | {"_to": f"{parts.scheme}://{parts.netloc}{parts.path}"}


def login(client, idp: str, identity: str, other_value: str = "") -> tuple[str, dict, str]:
    """Log in as `identity`: (code, authorization request, verifier)."""
    params, verifier = auth_request(idp)
    back = redirect_params(submit(client, idp, params, identity=identity, other_value=other_value))
    assert back["_to"] == params["redirect_uri"] and back["state"] == params["state"]
    return back["code"], params, verifier


def token_request(client, idp: str, code: str, verifier: str | None, *, secret: str | None = None,
                  method: str = "basic", redirect_uri: str | None = None):
    client_id, right_secret, right_redirect = CLIENTS[idp]
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri or right_redirect}
    if verifier is not None:
        data["code_verifier"] = verifier
    credentials = (client_id, secret or right_secret)
    if method == "basic":
        return client.post(f"/testbroker/{idp}/token", data=data, auth=credentials)
    posted = dict(zip(("client_id", "client_secret"), credentials, strict=True))
    return client.post(f"/testbroker/{idp}/token", data=data | posted)


def id_token_of(client, idp: str, identity: str, other_value: str = "") -> tuple[str, dict]:
    code, params, verifier = login(client, idp, identity, other_value)
    response = token_request(client, idp, code, verifier)
    assert response.status_code == 200, response.json
    return response.json["id_token"], params


def verified_claims(client, idp: str, id_token: str) -> dict:
    keys = KeySet.import_key_set(client.get(f"/testbroker/{idp}/jwks").json)
    return jwt.decode(id_token, keys, algorithms=["RS256"]).claims


def unverified(id_token: str) -> tuple[dict, dict]:
    import base64
    import json

    def part(text: str) -> dict:
        return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))

    header, claims, _ = id_token.split(".")
    return part(header), part(claims)


# --- discovery and keys ---------------------------------------------------------------------------

@pytest.mark.parametrize("idp", ["bankid", "siths"])
def test_discovery_document_validates_and_names_the_issuer(client, idp):
    metadata = client.get(f"/testbroker/{idp}/.well-known/openid-configuration").json
    OpenIDProviderMetadata(metadata).validate()
    issuer = f"{BASE}/testbroker/{idp}"
    assert metadata["issuer"] == issuer
    assert metadata["authorization_endpoint"] == f"{issuer}/authorize"
    assert metadata["token_endpoint"] == f"{issuer}/token"
    assert metadata["jwks_uri"] == f"{issuer}/jwks"
    assert metadata["end_session_endpoint"] == f"{issuer}/logout"
    assert metadata["code_challenge_methods_supported"] == ["S256"]
    assert metadata["response_types_supported"] == ["code"]
    assert metadata["acr_values_supported"] == [
        {"bankid": "http://id.elegnamnden.se/loa/1.0/loa3", "siths": "http://id.sambi.se/loa/loa3"}[idp]]


def test_only_the_two_issuers_exist(client):
    assert client.get("/testbroker/freja/.well-known/openid-configuration").status_code == 404
    assert client.get("/testbroker/freja/jwks").status_code == 404


def test_jwks_serves_each_issuers_public_key_with_a_kid(client):
    bankid = client.get("/testbroker/bankid/jwks").json["keys"]
    siths = client.get("/testbroker/siths/jwks").json["keys"]
    assert len(bankid) == len(siths) == 1
    assert bankid[0]["kid"] and bankid[0]["kid"] != siths[0]["kid"]
    assert bankid[0]["kty"] == "RSA" and bankid[0]["alg"] == "RS256" and bankid[0]["use"] == "sig"
    assert "d" not in bankid[0] and "p" not in bankid[0]  # public parts only


# --- the login page -------------------------------------------------------------------------------

def test_login_page_lists_the_demo_citizens_with_what_makes_each_interesting(client):
    params, _ = auth_request("bankid")
    response = client.get("/testbroker/bankid/authorize", query_string=params)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    assert '<h1 class="app-heading-xl">Logga in med BankID</h1>' in page
    assert "Det här är en testinloggning för utveckling och demonstration." in page
    assert "<legend" in page and "Välj testperson" in page
    assert "Tolva Demosson" in page and '<span class="app-broker__id">19850314-9828</span>' in page
    assert "Skyddade personuppgifter (sekretessmarkering)." in page
    assert "Under 16 år: får inte logga in." in page
    assert "Valideringsperson: används för att kontrollera produktionen." in page
    first = re.search(r'<input class="app-broker__radio"[^>]*>', page).group(0)
    assert 'value="198503149828"' in first and "checked" in first and 'aria-describedby="identity-1-about"' in first
    assert 'id="identity-1-about">Vanlig invånare med många intyg' in page
    assert 'value="other"' in page
    assert '<label class="app-broker__input-label" for="other-value">Personnummer (12 siffror)' in page
    assert 'name="action" value="cancel">Avbryt</button>' in page and ">Logga in</button>" in page
    assert 'name="csrf_token"' in page
    assert hidden_fields(page)["code_challenge"] == params["code_challenge"]
    assert "style=" not in page and "<script>" not in page


def test_login_page_lists_the_demo_staff_with_title_hsa_id_and_about(client):
    params, _ = auth_request("siths")
    page = client.get("/testbroker/siths/authorize", query_string=params).get_data(as_text=True)
    assert "Logga in med SITHS-kort" in page
    assert "Anna Berglund" in page
    assert 'Distriktsläkare, <span class="app-broker__id">TSTNMT2321000156-L001</span>' in page
    assert "Rehabkoordinator på Vårdcentralen Norrby." in page
    assert "Läkare utan medarbetaruppdrag för vård och behandling." in page
    assert 'for="other-value">HSA-id</label>' in page


def test_login_page_in_english(client):
    client.set_cookie("lang", "en")
    params, _ = auth_request("bankid")
    page = client.get("/testbroker/bankid/authorize", query_string=params).get_data(as_text=True)
    assert '<html lang="en"' in page
    assert "Log in with BankID" in page and "Choose a test person" in page
    assert "Tolva Demosson" in page and "19850314-9828" in page
    assert "Under 16: may not log in." in page
    assert "Under 16 år" not in page and "Välj testperson" not in page
    params, _ = auth_request("siths")
    page = client.get("/testbroker/siths/authorize", query_string=params).get_data(as_text=True)
    assert "Log in with a SITHS card" in page
    assert 'District physician, <span class="app-broker__id">TSTNMT2321000156-L001</span>' in page
    assert "Rehab coordinator at Vårdcentralen Norrby." in page


# --- refused authorization requests ---------------------------------------------------------------

@pytest.mark.parametrize("override", [
    {"client_id": "someone-else"},
    {"client_id": None},
    {"redirect_uri": "https://evil.example/callback"},
    {"redirect_uri": f"{BASE}/inloggning/siths/callback"},  # registered, but for the other client
    {"redirect_uri": None},
], ids=["unknown-client", "no-client", "foreign-redirect", "other-clients-redirect", "no-redirect"])
def test_unknown_client_or_unregistered_redirect_shows_a_page_and_never_redirects(client, override):
    params, _ = auth_request("bankid", **override)
    response = client.get("/testbroker/bankid/authorize", query_string=params)
    assert response.status_code == 400 and "Location" not in response.headers
    assert "Inloggningen kan inte göras" in response.get_data(as_text=True)


@pytest.mark.parametrize("override, error", [
    ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": None}, "invalid_request"),
    ({"code_challenge_method": "plain"}, "invalid_request"),
    ({"code_challenge": "too-short"}, "invalid_request"),
    ({"nonce": None}, "invalid_request"),
    ({"scope": "https://id.oidc.se/scope/naturalPersonNumber"}, "invalid_scope"),
    ({"scope": "openid unknown-scope"}, "invalid_scope"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"prompt": "none"}, "login_required"),
], ids=["no-pkce", "no-method", "plain-pkce", "bad-challenge", "no-nonce", "no-openid", "unknown-scope", "implicit",
        "prompt-none"])
def test_invalid_requests_from_a_known_client_go_back_with_an_error(client, override, error):
    params, _ = auth_request("bankid", **override)
    back = redirect_params(client.get("/testbroker/bankid/authorize", query_string=params))
    assert back["_to"] == CLIENTS["bankid"][2]
    assert back["error"] == error and back["state"] == params["state"]
    assert "code" not in back


def test_a_request_without_state_goes_back_with_an_error(client):
    params, _ = auth_request("bankid", state=None)
    back = redirect_params(client.get("/testbroker/bankid/authorize", query_string=params))
    assert back["error"] == "invalid_request" and "state" not in back


def test_request_values_are_escaped_on_the_pages(client):
    evil = '"><script>alert(1)</script>'
    params, _ = auth_request("bankid", state=evil)
    page = client.get("/testbroker/bankid/authorize", query_string=params).get_data(as_text=True)
    assert "<script>alert" not in page and hidden_fields(page)["state"] == evil
    for override in ({"redirect_uri": f"https://evil.example/{evil}"}, {"response_type": evil},
                     {"redirect_uri": "https://exämple.se/callback"}):
        params, _ = auth_request("bankid", **override)
        response = client.get("/testbroker/bankid/authorize", query_string=params)
        assert response.status_code == 400 and "Location" not in response.headers
        assert "<script>alert" not in response.get_data(as_text=True)


def test_the_form_is_validated_again_when_posted(client):
    params, _ = auth_request("bankid")
    response = submit(client, "bankid", params, identity=ORDINARY, redirect_uri="https://evil.example/callback")
    assert response.status_code == 400 and "Location" not in response.headers
    response = submit(client, "bankid", params, identity=ORDINARY, code_challenge_method="plain")
    assert redirect_params(response)["error"] == "invalid_request"


def test_the_form_needs_the_csrf_token(client):
    params, _ = auth_request("bankid")
    response = client.post("/testbroker/bankid/authorize", data=params | {"identity": ORDINARY})
    assert response.status_code == 400 and "Location" not in response.headers


# --- the code flow --------------------------------------------------------------------------------

def test_full_flow_gives_a_signed_id_token_with_the_citizens_personnummer(client, app):
    code, params, verifier = login(client, "bankid", ORDINARY)
    response = token_request(client, "bankid", code, verifier)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    body = response.json
    assert body["token_type"] == "Bearer" and body["access_token"] and body["expires_in"] == 300
    header, _ = unverified(body["id_token"])
    assert header["alg"] == "RS256" and header["kid"] == client.get("/testbroker/bankid/jwks").json["keys"][0]["kid"]
    claims = verified_claims(client, "bankid", body["id_token"])
    now = app.extensions["clock"].timestamp()
    assert claims["iss"] == f"{BASE}/testbroker/bankid"
    assert claims["aud"] == ["intygsportalen-citizen"]
    assert claims["nonce"] == params["nonce"]
    assert claims["acr"] == "http://id.elegnamnden.se/loa/1.0/loa3"
    assert claims[PNR] == ORDINARY and COORDINATION not in claims
    assert (claims["given_name"], claims["family_name"], claims["name"]) == ("Tolva", "Demosson", "Tolva Demosson")
    assert claims["iat"] == claims["auth_time"] == now == NOW.replace(tzinfo=ZoneInfo("Europe/Stockholm")).timestamp()
    assert claims["exp"] == now + 300
    assert len(claims["sub"]) == 64 and ORDINARY not in claims["sub"]


def test_the_subject_is_stable_and_differs_between_people(client):
    first, _ = id_token_of(client, "bankid", ORDINARY)
    again, _ = id_token_of(client, "bankid", ORDINARY)
    other, _ = id_token_of(client, "bankid", "197909029873")
    subjects = [verified_claims(client, "bankid", t)["sub"] for t in (first, again, other)]
    assert subjects[0] == subjects[1] != subjects[2]


def test_full_flow_for_staff_gives_the_hsa_id(client):
    id_token, params = id_token_of(client, "siths", DOCTOR)
    claims = verified_claims(client, "siths", id_token)
    assert claims["iss"] == f"{BASE}/testbroker/siths" and claims["aud"] == ["intygsportalen-staff"]
    assert claims["acr"] == "http://id.sambi.se/loa/loa3" and claims["nonce"] == params["nonce"]
    assert claims["employeeHsaId"] == DOCTOR and claims["name"] == "Anna Berglund"
    assert PNR not in claims


def test_a_token_from_one_issuer_does_not_verify_against_the_other(client):
    id_token, _ = id_token_of(client, "siths", DOCTOR)
    with pytest.raises(InvalidKeyIdError):
        verified_claims(client, "bankid", id_token)


def test_client_secret_post_is_accepted_too(client):
    code, _, verifier = login(client, "bankid", ORDINARY)
    assert "id_token" in token_request(client, "bankid", code, verifier, method="post").json


def test_a_code_can_be_used_only_once(client):
    code, _, verifier = login(client, "bankid", ORDINARY)
    assert token_request(client, "bankid", code, verifier).status_code == 200
    replay = token_request(client, "bankid", code, verifier)
    assert replay.status_code == 400 and replay.json["error"] == "invalid_grant"


def test_a_wrong_code_verifier_is_refused(client):
    code, _, _ = login(client, "bankid", ORDINARY)
    response = token_request(client, "bankid", code, secrets.token_urlsafe(48))
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"
    assert "id_token" not in response.json


def test_a_missing_code_verifier_is_refused_for_a_confidential_client(client):
    code, _, _ = login(client, "bankid", ORDINARY)
    response = token_request(client, "bankid", code, None)
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_a_wrong_client_secret_is_refused(client):
    code, _, verifier = login(client, "bankid", ORDINARY)
    response = token_request(client, "bankid", code, verifier, secret="guessed")
    assert response.status_code == 401 and response.json["error"] == "invalid_client"
    assert token_request(client, "bankid", code, verifier).status_code == 200  # the code was not spent


def test_a_code_is_bound_to_its_client_and_issuer(client):
    code, _, verifier = login(client, "bankid", ORDINARY)
    response = token_request(client, "siths", code, verifier)
    assert response.json["error"] == "invalid_grant"


def test_the_redirect_uri_must_match_the_authorization_request(client):
    code, _, verifier = login(client, "bankid", ORDINARY)
    response = token_request(client, "bankid", code, verifier, redirect_uri=f"{BASE}/elsewhere")
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_a_code_expires_after_sixty_seconds(client, app):
    code, _, verifier = login(client, "bankid", ORDINARY)
    app.extensions["clock"].advance(seconds=60)
    response = token_request(client, "bankid", code, verifier)
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_a_code_used_within_its_life_works(client, app):
    code, _, verifier = login(client, "bankid", ORDINARY)
    app.extensions["clock"].advance(seconds=59)
    assert token_request(client, "bankid", code, verifier).status_code == 200


# --- other people, cancel --------------------------------------------------------------------------

def test_a_samordningsnummer_goes_in_the_coordination_number_claim(client):
    id_token, _ = id_token_of(client, "bankid", "other", "198503749828")
    claims = verified_claims(client, "bankid", id_token)
    assert claims[COORDINATION] == "198503749828" and PNR not in claims
    assert "name" not in claims and "given_name" not in claims


@pytest.mark.parametrize("typed", ["19850314-9828", "123", "198503149829"])
def test_a_typed_number_is_passed_on_unchecked(client, typed):
    id_token, _ = id_token_of(client, "bankid", "other", f"  {typed} ")
    assert verified_claims(client, "bankid", id_token)[PNR] == typed


def test_a_typed_hsa_id_is_passed_on(client):
    id_token, _ = id_token_of(client, "siths", "other", "SE-UNKNOWN-1")
    assert verified_claims(client, "siths", id_token)["employeeHsaId"] == "SE-UNKNOWN-1"


@pytest.mark.parametrize("idp, message", [("bankid", "Skriv ett personnummer med 12 siffror"),
                                          ("siths", "Skriv ett HSA-id")])
def test_another_person_without_a_value_shows_the_error_and_issues_nothing(client, idp, message):
    params, _ = auth_request(idp)
    response = submit(client, idp, params, identity="other", other_value="  ")
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and "Location" not in response.headers
    assert 'class="app-error-summary"' in page and f'<a href="#other-value">{message}</a>' in page
    assert 'id="other-value-error"' in page and 'aria-describedby="other-value-hint other-value-error"' in page
    assert 'aria-invalid="true"' in page and "<title>Fel: " in page
    assert re.search(r'id="identity-other"[^>]*checked', page)
    # the form still carries the request: fixing the value logs in
    data = hidden_fields(page) | {"identity": "other", "other_value": "198503749828"}
    assert redirect_params(client.post(f"/testbroker/{idp}/authorize", data=data))["state"] == params["state"]


def test_an_unknown_choice_is_refused(client):
    params, _ = auth_request("bankid")
    response = submit(client, "bankid", params, identity="191212121212")
    assert response.status_code == 400
    assert '<a href="#identity-1">Välj en testperson</a>' in response.get_data(as_text=True)


def test_cancel_goes_back_with_access_denied(client):
    params, _ = auth_request("siths")
    back = redirect_params(submit(client, "siths", params, identity=DOCTOR, action="cancel"))
    assert back["_to"] == CLIENTS["siths"][2]
    assert back["error"] == "access_denied" and back["state"] == params["state"] and "code" not in back


# --- the fault knobs ------------------------------------------------------------------------------

@pytest.mark.parametrize("knob, value, expect", [
    ("aud", "someone-else", lambda c, p: c["aud"] == "someone-else"),
    ("iss", "https://evil.example", lambda c, p: c["iss"] == "https://evil.example"),
    ("exp_offset", -600, lambda c, p: c["exp"] == c["iat"] + 300 - 600),
    ("nonce", "replayed", lambda c, p: c["nonce"] == "replayed"),
    ("nonce", "__omit__", lambda c, p: "nonce" not in c),
    ("acr", "http://id.elegnamnden.se/loa/1.0/loa2", lambda c, p: c["acr"] == "http://id.elegnamnden.se/loa/1.0/loa2"),
    ("claims", {PNR: "201405209840", "extra": 1}, lambda c, p: c[PNR] == "201405209840" and c["extra"] == 1),
], ids=["aud", "iss", "exp", "nonce", "no-nonce", "acr", "claims"])
def test_each_fault_knob_changes_the_id_token(client, faults, knob, value, expect):
    faults[knob] = value
    id_token, params = id_token_of(client, "bankid", ORDINARY)
    claims = verified_claims(client, "bankid", id_token)  # still properly signed
    assert expect(claims, params)
    faults.clear()
    claims = verified_claims(client, "bankid", id_token_of(client, "bankid", ORDINARY)[0])
    assert claims["aud"] == ["intygsportalen-citizen"] and claims["nonce"] and claims["exp"] == claims["iat"] + 300


def test_fault_sign_with_foreign_key_keeps_the_kid_but_fails_verification(client, faults):
    faults["sign_with_foreign_key"] = True
    id_token, _ = id_token_of(client, "bankid", ORDINARY)
    header, claims = unverified(id_token)
    assert header["kid"] == client.get("/testbroker/bankid/jwks").json["keys"][0]["kid"]
    assert claims[PNR] == ORDINARY
    with pytest.raises(BadSignatureError):
        verified_claims(client, "bankid", id_token)


# --- end session -----------------------------------------------------------------------------------

def test_end_session_with_a_valid_hint_goes_back_to_the_registered_address(client, app):
    id_token, _ = id_token_of(client, "bankid", ORDINARY)
    app.extensions["clock"].advance(hours=2)  # the hint may have expired
    response = client.get("/testbroker/bankid/logout", query_string={
        "id_token_hint": id_token, "post_logout_redirect_uri": f"{BASE}/utloggad", "state": "s-123"})
    assert response.status_code == 302 and response.headers["Location"] == f"{BASE}/utloggad?state=s-123"


def test_end_session_accepts_a_form_post_from_the_client(client):
    id_token, _ = id_token_of(client, "bankid", ORDINARY)
    response = client.post("/testbroker/bankid/logout", data={  # no CSRF token: the portal's page posts it
        "id_token_hint": id_token, "post_logout_redirect_uri": f"{BASE}/utloggad", "state": "s-9"})
    assert response.status_code == 302 and response.headers["Location"] == f"{BASE}/utloggad?state=s-9"


def test_end_session_with_client_id_and_hint(client):
    id_token, _ = id_token_of(client, "siths", DOCTOR)
    response = client.get("/testbroker/siths/logout", query_string={
        "id_token_hint": id_token, "client_id": "intygsportalen-staff", "post_logout_redirect_uri": f"{BASE}/utloggad"})
    assert response.headers["Location"] == f"{BASE}/utloggad"


@pytest.mark.parametrize("case", ["unregistered", "no-hint", "foreign-hint", "other-issuers-hint", "wrong-client"])
def test_end_session_never_redirects_unless_hint_and_address_are_right(client, faults, case):
    target = f"{BASE}/utloggad"
    if case == "foreign-hint":
        faults["sign_with_foreign_key"] = True
    idp = "siths" if case == "other-issuers-hint" else "bankid"
    id_token, _ = id_token_of(client, idp, DOCTOR if idp == "siths" else ORDINARY)
    query = {"id_token_hint": id_token, "post_logout_redirect_uri": target}
    if case == "unregistered":
        query["post_logout_redirect_uri"] = "https://evil.example/bye"
    if case == "no-hint":
        del query["id_token_hint"]
        query["client_id"] = "intygsportalen-citizen"
    if case == "wrong-client":
        query["client_id"] = "intygsportalen-staff"
    response = client.get("/testbroker/bankid/logout", query_string=query)
    assert response.status_code == 200 and "Location" not in response.headers
    assert "Du är utloggad från testinloggningen" in response.get_data(as_text=True)


def test_end_session_page_without_parameters(client):
    response = client.get("/testbroker/siths/logout")
    assert response.status_code == 200 and "Du är utloggad från testinloggningen" in response.get_data(as_text=True)


# --- the accessibility crawl's examples --------------------------------------------------------------

def test_a11y_examples_are_valid_pages_for_both_issuers(client, app):
    examples = testbroker.a11y_examples(app)
    with app.test_request_context():
        urls = [(endpoint, url_for(endpoint, **values)) for endpoint, values in examples]
    assert {values["idp"] for endpoint, values in examples if endpoint == "testbroker.authorize"} == {"bankid", "siths"}
    assert any(endpoint == "testbroker.logout" for endpoint, _ in urls)
    for _, url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
