"""The certificate store's API, contract by contract, through the Flask test client on SQLite and
PostgreSQL: for each operation success, replay (no change), conflict (409), bad input (a problem with
the field's pointer, nothing stored), no token (401), wrong scope (403), too large, and what the
portals show afterwards."""
from __future__ import annotations

import copy
import logging
import re
import threading
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy import func, select

from conftest import NOW, make_test_app, session_login
from portal import db
from portal.domain import demo as demo_data
from portal.models import CareSend, CareUnit, Certificate, CertificateRelation, Message, Person, Staff
from portal.testbroker.provider import signing_key
from tests.api_support import ISSUER, PATIENT, UNIT, bearer, registration, token

SIGNED = NOW - timedelta(days=2)
PNR_RE = re.compile(r"(19|20)\d{6}-?\d{4}")


@pytest.fixture
def journal(client):
    return bearer(token(client, "journal-demo"))


def post(client, headers, body, path="/api/v1/certificates"):
    return client.post(path, json=body, headers=headers)


def count(app, model, *where) -> int:
    with db.new_session(app) as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def pointers(response) -> list[str]:
    assert response.mimetype == "application/problem+json", response.get_data(as_text=True)
    return [e["pointer"] for e in response.json.get("errors", [])]


# --- register a certificate -------------------------------------------------------------------------

def test_register_stores_the_certificate_and_its_doctor_unit_and_provider(app, client, journal):
    response = post(client, journal, registration("api-1", SIGNED))
    assert response.status_code == 201
    assert response.json == {"id": "api-1", "result": "created"}
    assert response.headers["Location"] == "/api/v1/certificates/api-1"
    with db.new_session(app) as s:
        cert = s.get(Certificate, "api-1")
        assert (cert.registered_by, cert.type_code, cert.patient_pnr, cert.unit_id) == (
            "journal-demo", "FK7804", PATIENT, UNIT["hsa_id"])
        assert cert.sick_leave_start == SIGNED.date() and cert.engine_data
        unit = s.get(CareUnit, UNIT["hsa_id"])
        assert (unit.name, unit.address, unit.city, unit.provider_id) == (
            UNIT["name"], UNIT["address"], UNIT["city"], "TSTNMT2321000156-APVG")
        assert s.get(Staff, ISSUER["hsa_id"]).family_name == "Apisson"


def test_the_same_registration_again_is_a_200_that_changes_nothing(app, client, journal):
    body = registration("api-1", SIGNED)
    post(client, journal, body)
    with db.new_session(app) as s:
        version = s.get(CareUnit, UNIT["hsa_id"]).data_version
    again = post(client, journal, copy.deepcopy(body))
    assert again.status_code == 200 and again.json == {"id": "api-1", "result": "unchanged"}
    assert "Location" not in again.headers
    assert count(app, Certificate) == 1
    with db.new_session(app) as s:
        assert s.get(CareUnit, UNIT["hsa_id"]).data_version == version  # nothing for caches to notice


@pytest.mark.parametrize("change, pointer", [
    (lambda b: b.update(signed=(SIGNED + timedelta(hours=1)).isoformat()), "/signed"),
    (lambda b: b["content"]["diagnoses"].__setitem__(0, {"code": "F32.1", "text": "Depression"}), "/content"),
    (lambda b: b.update(patient="19800412-9832".replace("9832", "9824")), "/patient"),
    (lambda b: b.update(relation={"kind": "REPLACES", "certificate": "api-0"}), "/relation"),
])
def test_the_same_id_with_another_body_is_a_409_and_nothing_changes(app, client, journal, change, pointer):
    post(client, journal, registration("api-0", SIGNED - timedelta(days=1)))
    post(client, journal, registration("api-1", SIGNED))
    body = registration("api-1", SIGNED)
    change(body)
    response = post(client, journal, body)
    assert response.status_code == 409
    assert response.json["type"] == "/api/v1/docs#problem-conflict" and response.json["status"] == 409
    assert pointer in pointers(response)
    with db.new_session(app) as s:
        assert s.get(Certificate, "api-1").signed_at == SIGNED.replace(microsecond=0)
        assert s.scalars(select(CertificateRelation)).all() == []


def test_another_system_cannot_take_over_a_registered_id(app, client, journal):
    post(client, journal, registration("api-1", SIGNED))
    webcert = bearer(token(client, "webcert-demo"))
    response = post(client, webcert, registration("api-1", SIGNED))
    assert response.status_code == 409 and pointers(response) == ["/id"]
    assert count(app, Certificate, Certificate.registered_by == "journal-demo") == 1


def test_a_known_unit_keeps_the_directorys_data(demo, client, journal):
    ve10 = demo_data.hsa("VE10")
    with db.new_session(demo) as s:
        unit = s.get(CareUnit, ve10)
        name, provider = unit.name, unit.provider_id
    body = registration("api-1", SIGNED, unit={"hsa_id": ve10, "name": "Ett annat namn"},
                        provider={"hsa_id": provider, "name": "Något annat"})
    assert post(client, journal, body).status_code == 201
    with db.new_session(demo) as s:
        assert s.get(CareUnit, ve10).name == name


def test_a_known_unit_under_another_provider_is_refused(demo, client, journal):
    body = registration("api-1", SIGNED, unit={"hsa_id": demo_data.hsa("VE10"), "name": "x"})
    response = post(client, journal, body)
    assert response.status_code == 422 and "/provider/hsa_id" in pointers(response)
    assert count(demo, Certificate, Certificate.id == "api-1") == 0


def _without(name):
    return lambda b: b.pop(name)


BAD_REGISTRATIONS = {
    "no issuer": (_without("issuer"), ["/issuer"]),
    "issuer not an object": (lambda b: b.update(issuer="Alva"), ["/issuer"]),
    "unknown field": (lambda b: b.update(colour="blå"), ["/colour"]),
    "unknown field in the unit": (lambda b: b["unit"].update(floor=3), ["/unit/floor"]),
    "no id": (_without("id"), ["/id"]),
    "invalid personnummer": (lambda b: b.update(patient="19800412-9831"), ["/patient"]),
    "unknown type": (lambda b: b.update(type="FK9999"), ["/type"]),
    "wrong version": (lambda b: b.update(version="1.0"), ["/version"]),
    "signed not a time": (lambda b: b.update(signed="igår"), ["/signed"]),
    "doctor without name": (lambda b: b["issuer"].pop("family_name"), ["/issuer/family_name"]),
    "unit without name": (lambda b: b["unit"].pop("name"), ["/unit/name"]),
    "postal code too long": (lambda b: b["unit"].update(postal_code="1" * 11), ["/unit/postal_code"]),
    "content problems": (lambda b: b["content"].update(diagnoses=[{"code": "XX", "text": ""}]),
                         ["/content/diagnoses/0/code", "/content/diagnoses/0/text"]),
    "period end before start": (lambda b: b["content"]["sick_leave_periods"][0].update(end="2020-01-01"),
                                ["/content/sick_leave_periods/0/end"]),
    "relation to an unknown certificate": (lambda b: b.update(relation={"kind": "REPLACES", "certificate": "nope"}),
                                           ["/relation/certificate"]),
    "relation of an unknown kind": (lambda b: b.update(relation={"kind": "ERSÄTTER", "certificate": "api-0"}),
                                    ["/relation/kind"]),
}


@pytest.mark.parametrize("case", list(BAD_REGISTRATIONS))
def test_bad_input_is_a_422_listing_every_problem_and_nothing_is_stored(app, client, journal, case):
    post(client, journal, registration("api-0", SIGNED - timedelta(days=1)))
    body = registration("api-1", SIGNED)
    change, expected = BAD_REGISTRATIONS[case]
    change(body)
    before = {m: count(app, m) for m in (Certificate, CareUnit, Staff, CertificateRelation)}
    response = post(client, journal, body)
    assert response.status_code == 422, response.json
    assert response.json["type"] == "/api/v1/docs#problem-invalid"
    assert sorted(pointers(response)) == sorted(expected), response.json
    assert all(e["detail"] for e in response.json["errors"])
    assert {m: count(app, m) for m in before} == before
    assert not PNR_RE.search(response.get_data(as_text=True))  # the problem never echoes a personnummer


def test_problems_use_the_words_of_portal_load(client, journal):
    body = registration("api-1", SIGNED)
    body["content"]["diagnoses"] = [{"code": "XX", "text": "Ont"}]
    response = post(client, journal, body)
    assert response.json["errors"] == [{"pointer": "/content/diagnoses/0/code",
                                        "detail": "must be an ICD-10 code such as M54.5, got 'XX'"}]


@pytest.mark.parametrize("data, content_type, status, name", [
    ('{"id": ', "application/json", 400, "invalid-json"),
    ("[" * 40 + "]" * 40, "application/json", 400, "invalid-json"),
    ("[" * 100_000, "application/json", 400, "invalid-json"),
    ('{"id": NaN}', "application/json", 400, "invalid-json"),
    ("id=1", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
    ("[]", "application/json", 422, "invalid"),
])
def test_malformed_bodies_are_refused_with_a_problem(app, client, journal, data, content_type, status, name):
    response = client.post("/api/v1/certificates", data=data, headers={**journal, "Content-Type": content_type})
    assert response.status_code == status
    assert response.json["type"] == f"/api/v1/docs#problem-{name}"
    assert count(app, Certificate) == 0


def test_a_body_over_the_limit_is_a_413(app, client, journal):
    body = registration("api-1", SIGNED)
    body["content"]["treatment"] = "x" * (300 * 1024)
    response = post(client, journal, body)
    assert response.status_code == 413 and response.json["type"] == "/api/v1/docs#problem-too-large"
    assert "262144 bytes" in response.json["detail"]
    assert count(app, Certificate) == 0


# --- tokens and scopes --------------------------------------------------------------------------------

def test_no_token_is_a_401_with_www_authenticate(app, client):
    response = post(client, {}, registration("api-1", SIGNED))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json["type"] == "/api/v1/docs#problem-unauthorized"
    assert count(app, Certificate) == 0


def _forged(app, **claims) -> str:
    key = RSAKey.generate_key(2048, parameters={"kid": signing_key("api").kid})
    now = app.extensions["clock"].timestamp()
    base = {"iss": app.config["API_OAUTH_ISSUER"], "aud": "intygsportalen-api", "client_id": "journal-demo",
            "sub": "journal-demo", "scope": "certificates.register", "iat": now, "exp": now + 300}
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "at+jwt"}, {**base, **claims}, key)


def _signed(app, typ="at+jwt", **claims) -> str:
    key = signing_key("api")
    now = app.extensions["clock"].timestamp()
    base = {"iss": app.config["API_OAUTH_ISSUER"], "aud": "intygsportalen-api", "client_id": "journal-demo",
            "sub": "journal-demo", "scope": "certificates.register", "iat": now, "exp": now + 300}
    return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": typ}, {**base, **claims}, key)


@pytest.mark.parametrize("make, why", [
    (lambda app: "not-a-jwt", "not a valid signed JWT"),
    (lambda app: _forged(app), "not a valid signed JWT"),
    (lambda app: _signed(app, aud="another-api"), "another audience"),
    (lambda app: _signed(app, iss="https://elsewhere.example/"), "another issuer"),
    (lambda app: _signed(app, exp=app.extensions["clock"].timestamp() - 3600), "expired"),
    (lambda app: _signed(app, typ="JWT"), "not an access token"),
])
def test_an_invalid_token_is_a_401(app, client, make, why):
    response = post(client, bearer(make(app)), registration("api-1", SIGNED))
    assert response.status_code == 401 and why in response.json["detail"]
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert count(app, Certificate) == 0


def test_a_token_from_the_test_broker_expires_with_the_clock(app, client, clock):
    access = bearer(token(client))
    clock.advance(minutes=10)
    response = post(client, access, registration("api-1", NOW))
    assert response.status_code == 401 and "expired" in response.json["detail"]


@pytest.mark.parametrize("client_id, method, path, body", [
    ("fk-demo", "post", "/api/v1/certificates", registration("api-1", SIGNED)),
    ("journal-demo", "post", "/api/v1/questions", {"id": "q", "certificate": "api-1", "subject": "KONTKT",
                                                   "text": "x", "sent": NOW.isoformat()}),
    ("fk-demo", "put", "/api/v1/certificates/api-1/revocation", {"at": NOW.isoformat(), "reason": "x"}),
    ("fk-demo", "put", "/api/v1/certificates/api-1/sent/FK", {"at": NOW.isoformat()}),
    ("fk-demo", "get", "/api/v1/certificates/api-1", None),
])
def test_the_wrong_scope_is_a_403(app, client, client_id, method, path, body):
    response = getattr(client, method)(path, json=body, headers=bearer(token(client, client_id)))
    assert response.status_code == 403 and response.json["type"] == "/api/v1/docs#problem-forbidden"
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
    assert count(app, Certificate) == 0 and count(app, Message) == 0


def test_a_client_cannot_get_a_scope_it_was_not_given(client):
    from tests.api_support import basic

    response = client.post("/testbroker/api/token", data={"grant_type": "client_credentials",
                                                           "scope": "questions.deliver"},
                           headers={"Authorization": basic("journal-demo")})
    assert response.status_code == 400 and response.json["error"] == "invalid_scope"


def test_the_api_sets_no_cookie_and_needs_no_csrf_token(client, journal):
    response = post(client, journal, registration("api-1", SIGNED))
    assert response.status_code == 201 and "Set-Cookie" not in response.headers


def test_requests_over_the_rate_limit_are_a_429(db_url):
    app = make_test_app(db_url, RATELIMIT_ENABLED=True, API_RATE_LIMIT="2 per minute")
    client = app.test_client()
    access = bearer(token(client))
    statuses = [client.get("/api/v1/certificates/nope", headers=access).status_code for _ in range(3)]
    assert statuses == [404, 404, 429]
    last = client.get("/api/v1/certificates/nope", headers=access)
    assert last.json["type"] == "/api/v1/docs#problem-rate-limited" and int(last.headers["Retry-After"]) >= 1
    other = client.get("/api/v1/certificates/nope", headers=bearer(token(client, "webcert-demo")))
    assert other.status_code == 404  # per client
    db.get_engine(app).dispose()


def test_no_personnummer_in_the_log(client, journal, caplog):
    caplog.set_level(logging.INFO)
    post(client, journal, registration("api-1", SIGNED))
    post(client, journal, registration("api-2", SIGNED, patient="19800412-9831"))
    assert "api" in caplog.text and not PNR_RE.search(caplog.text)


def test_unknown_api_paths_and_methods_are_problems_too(client):
    assert client.get("/api/v1/nothing-here").json["type"] == "/api/v1/docs#problem-not-found"
    response = client.delete("/api/v1/certificates")
    assert response.status_code == 405 and response.mimetype == "application/problem+json"


# --- two identical registrations at once ----------------------------------------------------------------

def test_two_identical_registrations_racing_store_one_certificate(app, monkeypatch, postgresql_url):
    if app.config["DATABASE_URL"] != postgresql_url:
        pytest.skip("the race is run on PostgreSQL")
    from portal.repository import intake as intake_store

    barrier = threading.Barrier(2, timeout=5)
    apply = intake_store.apply

    def apply_together(session, plan):
        if plan.new["certificates"]:  # both have checked and found nothing: now both insert
            try:
                barrier.wait()
            except threading.BrokenBarrierError:
                pass
        return apply(session, plan)

    monkeypatch.setattr(intake_store, "apply", apply_together)
    body = registration("api-race", SIGNED)
    access = bearer(token(app.test_client()))
    results: list = []

    def register():
        response = app.test_client().post("/api/v1/certificates", json=body, headers=access)
        results.append((response.status_code, response.json.get("result")))

    threads = [threading.Thread(target=register) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert sorted(results) == [(200, "unchanged"), (201, "created")]
    assert count(app, Certificate) == 1 and count(app, CareUnit) == 1 and count(app, Staff) == 1


# --- revoke ---------------------------------------------------------------------------------------------

def test_revoke_then_replay_then_conflict(app, client, journal):
    post(client, journal, registration("api-1", SIGNED))
    body = {"at": NOW.isoformat(), "reason": "Fel patient"}
    first = client.put("/api/v1/certificates/api-1/revocation", json=body, headers=journal)
    assert first.status_code == 201 and first.json == {"id": "api-1", "result": "created"}
    again = client.put("/api/v1/certificates/api-1/revocation", json=body, headers=journal)
    assert again.status_code == 200 and again.json["result"] == "unchanged"
    other = client.put("/api/v1/certificates/api-1/revocation", json={**body, "reason": "Annat"}, headers=journal)
    assert other.status_code == 409 and pointers(other) == ["/at"]
    with db.new_session(app) as s:
        cert = s.get(Certificate, "api-1")
        assert (cert.revoked_at, cert.revoke_reason) == (NOW, "Fel patient")


@pytest.mark.parametrize("body, expected", [
    ({"at": NOW.isoformat()}, ["/reason"]),
    ({"reason": "x"}, ["/at"]),
    ({"at": (SIGNED - timedelta(days=3)).isoformat(), "reason": "x"}, ["/at"]),
    ({"at": NOW.isoformat(), "reason": "x", "by": "me"}, ["/by"]),
])
def test_a_bad_revocation_is_a_422_and_nothing_changes(app, client, journal, body, expected):
    post(client, journal, registration("api-1", SIGNED))
    response = client.put("/api/v1/certificates/api-1/revocation", json=body, headers=journal)
    assert response.status_code == 422 and pointers(response) == expected
    assert count(app, Certificate, Certificate.revoked_at.is_not(None)) == 0


def test_only_the_registering_system_may_revoke_or_read(app, client, journal):
    post(client, journal, registration("api-1", SIGNED))
    webcert = bearer(token(client, "webcert-demo"))
    for response in (client.put("/api/v1/certificates/api-1/revocation", json={"at": NOW.isoformat(), "reason": "x"},
                                headers=webcert),
                     client.put("/api/v1/certificates/api-1/sent/FK", json={"at": NOW.isoformat()}, headers=webcert),
                     client.get("/api/v1/certificates/api-1", headers=webcert),
                     client.get("/api/v1/certificates/unknown", headers=journal)):
        assert response.status_code == 404 and response.json["type"] == "/api/v1/docs#problem-not-found"
    assert count(app, Certificate, Certificate.revoked_at.is_not(None)) == 0 and count(app, CareSend) == 0


# --- sent by care and the status ----------------------------------------------------------------------------

def test_sent_by_care_is_recorded_once_and_read_back(app, client, journal):
    post(client, journal, registration("api-1", SIGNED))
    at = (SIGNED + timedelta(hours=1)).isoformat()
    first = client.put("/api/v1/certificates/api-1/sent/FK", json={"at": at}, headers=journal)
    assert first.status_code == 201
    assert client.put("/api/v1/certificates/api-1/sent/FK", json={"at": at}, headers=journal).status_code == 200
    later = client.put("/api/v1/certificates/api-1/sent/FK", json={"at": NOW.isoformat()}, headers=journal)
    assert later.status_code == 409 and pointers(later) == ["/at"]
    client.put("/api/v1/certificates/api-1/revocation", json={"at": NOW.isoformat(), "reason": "Fel"}, headers=journal)
    status = client.get("/api/v1/certificates/api-1", headers=journal)
    assert status.status_code == 200 and status.headers["Cache-Control"] == "no-store"
    assert status.json == {"id": "api-1", "type": "FK7804", "version": "2.0", "signed": SIGNED.replace(microsecond=0)
                           .isoformat(), "revoked": {"at": NOW.isoformat(), "reason": "Fel"},
                           "sent": [{"recipient": "FK", "at": at, "by": "CARE"}], "replaced_by": []}
    assert count(app, CareSend) == 1


def test_an_offset_is_stored_as_swedish_local_time(app, client, journal):
    post(client, journal, registration("api-1", SIGNED))
    client.put("/api/v1/certificates/api-1/sent/FK", json={"at": "2026-11-22T09:00:00Z"}, headers=journal)
    with db.new_session(app) as s:
        assert s.scalars(select(CareSend.sent_at)).one().isoformat() == "2026-11-22T10:00:00"


@pytest.mark.parametrize("path, body, expected", [
    ("/api/v1/certificates/api-1/sent/TS", {"at": NOW.isoformat()}, "FK7804 is sent electronically to FK, not TS"),
    ("/api/v1/certificates/api-1/sent/FK", {"at": (SIGNED - timedelta(days=1)).isoformat()},
     "a certificate cannot be sent before it was signed"),
    ("/api/v1/certificates/api-1/sent/FK", {}, "is required"),
])
def test_a_bad_sent_record_is_a_422(app, client, journal, path, body, expected):
    post(client, journal, registration("api-1", SIGNED))
    response = client.put(path, json=body, headers=journal)
    assert response.status_code == 422 and [e["detail"] for e in response.json["errors"]] == [expected]
    assert count(app, CareSend) == 0


def test_a_replacement_shows_in_the_status(client, journal):
    post(client, journal, registration("api-1", SIGNED))
    post(client, journal, registration("api-2", SIGNED + timedelta(hours=2),
                                       relation={"kind": "REPLACES", "certificate": "api-1"}))
    assert client.get("/api/v1/certificates/api-1", headers=journal).json["replaced_by"] == ["api-2"]


# --- FK's questions -------------------------------------------------------------------------------------------

def _question(**extra) -> dict:
    return {"id": "fk-q-1", "certificate": "api-1", "subject": "KONTKT", "heading": "Kontakt önskas",
            "text": "Vi vill tala med läkaren.", "sent": NOW.isoformat(), **extra}


def test_a_question_from_fk_is_stored_once(app, client, journal):
    post(client, journal, registration("api-1", SIGNED))
    fk = bearer(token(client, "fk-demo"))
    assert post(client, fk, _question(), "/api/v1/questions").status_code == 201
    assert post(client, fk, _question(), "/api/v1/questions").json["result"] == "unchanged"
    conflict = post(client, fk, _question(text="Något annat"), "/api/v1/questions")
    assert conflict.status_code == 409 and pointers(conflict) == ["/text"]
    with db.new_session(app) as s:
        m = s.get(Message, "fk-q-1")
        assert (m.sender, m.unit_id, m.patient_pnr, m.handled_at) == ("FK", UNIT["hsa_id"], PATIENT, None)


@pytest.mark.parametrize("body, expected", [
    (_question(certificate="nope"), ["/certificate"]),
    (_question(subject="FRAGA"), ["/subject"]),
    (_question(subject="PAMINN"), ["/reminder_of"]),
    (_question(sender="CARE"), ["/sender"]),
    (_question(text=""), ["/text"]),
])
def test_a_bad_question_is_a_422_and_nothing_is_stored(app, client, journal, body, expected):
    post(client, journal, registration("api-1", SIGNED))
    response = post(client, bearer(token(client, "fk-demo")), body, "/api/v1/questions")
    assert response.status_code == 422 and pointers(response) == expected, response.json
    assert count(app, Message) == 0


# --- what the portals show ------------------------------------------------------------------------------------

def test_a_registered_certificate_shows_in_mina_intyg_and_a_revocation_removes_it(demo, client, journal):
    citizen = demo_data.demo_citizens(NOW.date())[0].personnummer
    assert post(client, journal, registration("api-new", NOW - timedelta(hours=1), patient=citizen)).status_code == 201
    reader = demo.test_client()
    session_login(reader, demo, "citizen", citizen, name="Tolva Demosson")
    assert 'href="/mina-intyg/intyg/api-new"' in reader.get("/mina-intyg/").get_data(as_text=True)
    page = reader.get("/mina-intyg/intyg/api-new").get_data(as_text=True)
    assert "Alva Apisson" in page and "Vårdcentralen API" in page
    client.put("/api/v1/certificates/api-new/revocation", json={"at": NOW.isoformat(), "reason": "Fel"},
               headers=journal)
    assert "api-new" not in reader.get("/mina-intyg/").get_data(as_text=True)
    assert reader.get("/mina-intyg/intyg/api-new").status_code == 404


def test_a_registered_certificate_shows_in_the_units_rehab_list_at_once(demo, client, journal):
    ve10 = demo_data.hsa("VE10")
    with db.new_session(demo) as s:
        provider = s.get(CareUnit, ve10).provider_id
        s.add(Person(personnummer=PATIENT, given_name="Apifall", family_name="Nyssonsson"))
        s.commit()
    staff = bearer(token(client))
    coordinator = demo.test_client()
    session_login(coordinator, demo, "staff", demo_data.hsa("R001"), unit_id=ve10, role="REHABKOORDINATOR", name="R")
    assert "Nyssonsson" not in coordinator.get("/rehabstod/sjukfall").get_data(as_text=True)  # cases now cached
    body = registration("api-new", NOW - timedelta(days=3), unit={"hsa_id": ve10, "name": "VE10"},
                        provider={"hsa_id": provider, "name": "p"})
    assert post(client, staff, body).status_code == 201
    assert "Nyssonsson" in coordinator.get("/rehabstod/sjukfall").get_data(as_text=True)
    client.put("/api/v1/certificates/api-new/revocation", json={"at": NOW.isoformat(), "reason": "Fel"}, headers=staff)
    assert "Nyssonsson" not in coordinator.get("/rehabstod/sjukfall").get_data(as_text=True)


def test_a_question_from_fk_shows_in_rehabstods_questions_and_counts(demo, client):
    ve10 = demo_data.hsa("VE10")
    with db.new_session(demo) as s:
        cert = s.scalars(select(Certificate).join(Person, Person.personnummer == Certificate.patient_pnr).where(
            Certificate.unit_id == ve10, Certificate.type_code == "FK7804", Certificate.revoked_at.is_(None),
            Certificate.sick_leave_end >= NOW.date(), Person.protected.is_(False), Person.deceased.is_(False),
            Person.validation_person.is_(False))).first()
        open_before = s.scalar(select(func.count()).select_from(Message).where(
            Message.unit_id == ve10, Message.sender == "FK", Message.handled_at.is_(None)))
    coordinator = demo.test_client()
    session_login(coordinator, demo, "staff", demo_data.hsa("R001"), unit_id=ve10, role="REHABKOORDINATOR", name="R")
    response = post(client, bearer(token(client, "fk-demo")),
                    _question(certificate=cert.id, heading="Frågan från API:t"), "/api/v1/questions")
    assert response.status_code == 201
    page = coordinator.get("/rehabstod/fragor").get_data(as_text=True)
    assert "Frågan från API:t" in page
    with db.new_session(demo) as s:
        assert s.scalar(select(func.count()).select_from(Message).where(
            Message.unit_id == ve10, Message.sender == "FK", Message.handled_at.is_(None))) == open_before + 1


def test_tokens_are_verified_against_the_issuers_jwks_fetched_over_http(sqlite_url):
    """As in production: the API fetches the authorization server's keys from its JWKS URL."""
    import requests

    from conftest import LiveServer, free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = make_test_app(sqlite_url, PUBLIC_BASE_URL=base, API_OAUTH_JWKS_URL=f"{base}/testbroker/api/jwks")
    assert type(app.extensions["api_keys"]).__name__ == "HttpKeySource"
    with LiveServer(app, port):
        http = requests.Session()
        access = bearer(token(http, prefix=base))
        assert http.get(f"{base}/api/v1/certificates/nope", headers=access).status_code == 404
        forged = http.get(f"{base}/api/v1/certificates/nope", headers=bearer(_forged(app)))
        assert forged.status_code == 401
    db.get_engine(app).dispose()
