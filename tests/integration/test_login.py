"""Logging in through the embedded test broker with the real client code, and every refusal.

These run against a live server (the portal's OIDC client talks to the broker over HTTP), with a
requests session as the browser.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select

from conftest import NOW, PortalBrowser
from portal import db
from portal.domain import demo
from portal.models import AuthSession

CITIZEN = demo.demo_citizens(NOW.date())
ORDINARY = next(c for c in CITIZEN if c.key == "ordinary").personnummer
CHILD = next(c for c in CITIZEN if c.key == "child").personnummer
DOCTOR_TWO_UNITS = demo.hsa("L001")
DOCTOR_ONE_UNIT = demo.hsa("L002")
COORDINATOR = demo.hsa("R002")
NO_COMMISSION = demo.hsa("N001")
NURSE = demo.hsa("S001")


@pytest.fixture
def browser_(live):
    return PortalBrowser(live.url)


def sessions_in_db(app) -> int:
    with db.new_session(app) as s:
        return s.scalar(select(func.count()).select_from(AuthSession))


def assert_refused(response, heading: str, status: int = 403):
    assert response.status_code == status, response.status_code
    assert f'<h1 class="app-heading-xl">{heading}</h1>' in response.text
    assert "Fel-id:" in response.text


def test_citizen_logs_in_sees_their_name_and_logs_out_through_end_session(browser_, live):
    before = sessions_in_db(live.app)
    page = browser_.login("bankid", ORDINARY)
    assert page.url.endswith("/mina-intyg/")
    assert "Tolva Demosson" in page.text  # the header shows who is logged in
    assert page.headers["Cache-Control"] == "no-store"
    assert ORDINARY not in page.url
    assert sessions_in_db(live.app) == before + 1
    # logout: local session ended, then the broker's end-session endpoint by a POST form
    logout = browser_.post("/logga-ut", {"csrf_token": browser_.csrf(page.text)})
    action, fields = browser_.form(logout.text, "/testbroker/bankid/logout")
    assert fields["post_logout_redirect_uri"].endswith("/utloggad") and fields["id_token_hint"]
    assert sessions_in_db(live.app) == before
    done = browser_.post(action, fields)
    assert urlsplit(done.url).path == "/utloggad" and "Du är utloggad" in done.text
    assert not browser_.logged_in()
    assert browser_.get("/mina-intyg/", allow_redirects=False).status_code == 302


def test_a_new_session_id_at_login(browser_, live):
    browser_.get("/")
    before = browser_.http.cookies.get("session")
    browser_.login("bankid", ORDINARY)
    after = browser_.http.cookies.get("session")
    assert after and after != before
    # the pre-login cookie is worth nothing afterwards
    other = PortalBrowser(live.url)
    other.http.cookies.set("session", before, domain="127.0.0.1", path="/")
    assert other.get("/mina-intyg/", allow_redirects=False).status_code == 302


def test_doctor_on_one_unit_goes_straight_to_rehabstod(browser_):
    page = browser_.login("siths", DOCTOR_ONE_UNIT)
    assert page.url.endswith("/rehabstod/")
    assert "Vårdcentralen Norrby" in page.text and "läkare" in page.text


def test_doctor_on_two_units_chooses_and_switches_unit(browser_):
    page = browser_.login("siths", DOCTOR_TWO_UNITS)
    assert page.url.endswith("/valj-vardenhet")
    assert "Vårdcentralen Norrby" in page.text and "Ortopedkliniken Demostad" in page.text
    csrf = browser_.csrf(page.text)
    chosen = browser_.post("/valj-vardenhet", {"csrf_token": csrf, "unit": demo.hsa("VE20")})
    assert chosen.url.endswith("/rehabstod/") and "Du är inloggad på Ortopedkliniken Demostad som läkare" in chosen.text
    switched = browser_.post("/valj-vardenhet", {"csrf_token": browser_.csrf(chosen.text), "unit": demo.hsa("VE10")})
    assert "Du är inloggad på Vårdcentralen Norrby som läkare" in switched.text


def test_choosing_a_unit_without_commission_is_refused_and_changes_nothing(browser_):
    page = browser_.login("siths", DOCTOR_TWO_UNITS)
    bad = browser_.post("/valj-vardenhet", {"csrf_token": browser_.csrf(page.text), "unit": demo.hsa("VE40")})
    assert bad.status_code == 400 and "Välj den vårdenhet du vill arbeta på" in bad.text
    assert "/valj-vardenhet" in browser_.get("/rehabstod/").url


def test_coordinator_role_only_on_the_unit_of_the_system_role(browser_):
    page = browser_.login("siths", COORDINATOR)
    # R002 has commissions on VE20 (with INTYG;Rehab-VE20) and VE30 (no role there): only VE20 is offered
    assert page.url.endswith("/rehabstod/")
    assert "Du är inloggad på Ortopedkliniken Demostad som rehabkoordinator" in page.text
    unit_page = browser_.get("/valj-vardenhet")
    assert "Psykiatrimottagningen Söder" not in unit_page.text


def test_doctor_with_coordinator_role_works_as_coordinator_there(browser_):
    page = browser_.login("siths", demo.hsa("L004"))
    assert "som rehabkoordinator" in page.text


@pytest.mark.parametrize("who,heading", [
    (NO_COMMISSION, "Du saknar medarbetaruppdrag"),
    (NURSE, "Du har inte behörighet till Rehabstöd"),
])
def test_staff_without_access_are_refused_with_no_session(browser_, live, who, heading):
    before = sessions_in_db(live.app)
    assert_refused(browser_.login("siths", who), heading)
    assert not browser_.logged_in() and sessions_in_db(live.app) == before


def test_unknown_hsa_id_is_refused(browser_):
    assert_refused(browser_.login("siths", other="TSTNMT2321000156-OKAND"), "Vi hittar dig inte i HSA-katalogen")
    assert not browser_.logged_in()


def test_under_16_is_refused_with_their_own_page(browser_):
    assert_refused(browser_.login("bankid", CHILD), "Du som är under 16 har inte tillgång till Mina intyg")
    assert not browser_.logged_in()


def test_invalid_personnummer_is_refused(browser_):
    assert_refused(browser_.login("bankid", other="198503149829"), "Inloggningen gav inget giltigt personnummer")
    assert not browser_.logged_in()


def test_cancel_at_the_broker(browser_):
    page = browser_.choose(browser_.start_login("bankid"), ORDINARY, action="cancel")
    assert_refused(page, "Inloggningen avbröts")


FAILED = "Inloggningen misslyckades"


@pytest.mark.parametrize("fault", [
    {"sign_with_foreign_key": True},
    {"aud": "someone-else"},
    {"iss": "http://evil.example/testbroker/bankid"},
    {"exp_offset": -600},
    {"nonce": "not-the-nonce"},
    {"nonce": "__omit__"},
], ids=["forged-signature", "wrong-aud", "wrong-iss", "expired", "wrong-nonce", "missing-nonce"])
def test_a_bad_id_token_is_refused_with_no_session(browser_, live, fault):
    live.app.extensions["testbroker"].faults.update(fault)
    before = sessions_in_db(live.app)
    assert_refused(browser_.login("bankid", ORDINARY), FAILED)
    assert not browser_.logged_in() and sessions_in_db(live.app) == before


def test_acr_outside_the_allow_list_is_refused(browser_, live):
    live.app.extensions["testbroker"].faults["acr"] = "http://id.elegnamnden.se/loa/1.0/loa2"
    assert_refused(browser_.login("bankid", ORDINARY), "Inloggningsmetoden räcker inte")
    assert not browser_.logged_in()


def test_expired_token_within_leeway_is_accepted(browser_, live):
    live.app.extensions["testbroker"].faults["exp_offset"] = -300 - 30  # 5 min life, expired 30 s ago
    assert browser_.login("bankid", ORDINARY).url.endswith("/mina-intyg/")


def test_wrong_state_is_refused(browser_):
    redirect = browser_.choose(browser_.start_login("bankid"), ORDINARY, follow=False)
    callback = redirect.headers["Location"].replace("state=", "state=tampered")
    assert_refused(browser_.get(callback), FAILED, status=400)  # bad callback input
    assert not browser_.logged_in()


def test_callback_without_a_login_in_progress_is_refused(browser_):
    redirect = browser_.choose(browser_.start_login("bankid"), ORDINARY, follow=False)
    fresh = PortalBrowser(browser_.base)
    assert_refused(fresh.get(redirect.headers["Location"]), FAILED, status=400)


def _tamper_pending(browser_, app, change):
    serializer = app.session_interface.get_signing_serializer(app)
    data = serializer.loads(browser_.http.cookies.get("session"))
    change(data["oidc_pending"])
    browser_.http.cookies.set("session", serializer.dumps(data), domain="127.0.0.1", path="/")


@pytest.mark.parametrize("change", [lambda p: p.update(code_verifier="x" * 50), lambda p: p.pop("code_verifier")],
                         ids=["wrong-verifier", "missing-verifier"])
def test_wrong_or_missing_pkce_verifier_is_refused(browser_, live, change):
    page = browser_.start_login("bankid")
    _tamper_pending(browser_, live.app, change)
    assert_refused(browser_.choose(page, ORDINARY), FAILED)
    assert not browser_.logged_in()


def test_a_replayed_authorization_code_is_refused(browser_, live):
    redirect = browser_.choose(browser_.start_login("bankid"), ORDINARY, follow=False)
    callback = redirect.headers["Location"]
    assert browser_.get(callback).url.endswith("/mina-intyg/")
    # a second login attempt presents the old code with the new login's state
    attacker = PortalBrowser(live.url)
    attacker.start_login("bankid")
    state = attacker.http.cookies  # the new pending state lives in the attacker's session
    serializer = live.app.session_interface.get_signing_serializer(live.app)
    new_state = serializer.loads(state.get("session"))["oidc_pending"]["state"]
    code = callback.split("code=")[1].split("&")[0]
    replay = attacker.get(f"/inloggning/bankid/callback?code={code}&state={new_state}")
    assert_refused(replay, FAILED)  # the state is right: the broker refuses the code (403)
    assert not attacker.logged_in()


def test_citizen_and_staff_sessions_cannot_reach_each_others_pages(live):
    citizen = PortalBrowser(live.url)
    citizen.login("bankid", ORDINARY)
    page = citizen.get("/rehabstod/")
    assert page.status_code == 403 and "Du är inloggad som invånare" in page.text
    staff = PortalBrowser(live.url)
    staff.login("siths", DOCTOR_ONE_UNIT)
    page = staff.get("/mina-intyg/")
    assert page.status_code == 403 and "Du är inloggad som vårdpersonal" in page.text


def test_idle_timeout_warns_then_logs_out_and_polling_does_not_extend(browser_, live):
    clock = live.app.extensions["clock"]
    browser_.login("bankid", ORDINARY)
    clock.advance(minutes=24)
    status = browser_.get("/session/status").json()
    assert status == {"logged_in": True, "remaining": 360, "warning": False}
    clock.advance(minutes=2)
    status = browser_.get("/session/status").json()
    assert status["warning"] is True and status["remaining"] == 240
    clock.advance(minutes=3)
    assert browser_.get("/session/status").json()["remaining"] == 60  # the polls did not extend it
    clock.advance(minutes=2)
    page = browser_.get("/mina-intyg/")
    assert page.url.endswith("/utloggad/inaktivitet")
    assert "Du har blivit utloggad" in page.text
    assert not browser_.logged_in()


def test_extending_the_session_resets_the_timer(browser_, live):
    clock = live.app.extensions["clock"]
    page = browser_.login("bankid", ORDINARY)
    clock.advance(minutes=27)
    response = browser_.post("/session/forlang", {"csrf_token": browser_.csrf(page.text), "next": "/mina-intyg/"},
                             headers={"Accept": "application/json"})
    assert response.status_code == 204
    assert browser_.get("/session/status").json()["remaining"] == 1800
    clock.advance(minutes=29)
    assert browser_.get("/mina-intyg/").url.endswith("/mina-intyg/")


def test_extend_without_javascript_goes_back_to_the_page(browser_, live):
    page = browser_.login("bankid", ORDINARY)
    back = browser_.post("/session/forlang", {"csrf_token": browser_.csrf(page.text), "next": "/mina-intyg/"})
    assert back.url.endswith("/mina-intyg/")


def test_logout_requires_csrf(browser_):
    browser_.login("bankid", ORDINARY)
    assert browser_.post("/logga-ut", {}).status_code == 400
    assert browser_.logged_in()


def test_english_refusal_page(live):
    b = PortalBrowser(live.url, lang="en")
    page = b.login("bankid", CHILD)
    assert "If you are under 16 you do not have access to My certificates" in page.text


def test_login_is_rate_limited(tmp_path):
    from conftest import LiveServer, free_port, make_test_app
    from portal.auth import limiter

    port = free_port()
    app = make_test_app(f"sqlite:///{tmp_path / 'rl.sqlite'}", AUTO_MIGRATE=True, RATELIMIT_ENABLED=True,
                        LOGIN_RATE_LIMIT="5 per minute", PUBLIC_BASE_URL=f"http://127.0.0.1:{port}")
    try:
        with LiveServer(app, port):
            b = PortalBrowser(f"http://127.0.0.1:{port}")
            statuses = [b.get("/inloggning/bankid", allow_redirects=False).status_code for _ in range(6)]
            assert statuses == [303] * 5 + [429]
            callbacks = [b.get("/inloggning/bankid/callback?code=x&state=y").status_code for _ in range(6)]
            assert callbacks == [400] * 5 + [429]  # no login in progress: bad callback input
            page = b.get("/inloggning/bankid")
            assert page.status_code == 429 and "För många försök" in page.text
    finally:
        limiter.reset()
        limiter.enabled = False  # the limiter is one per process; the other test apps run without it
