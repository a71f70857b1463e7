"""Sessions end and their rows go: after 30 minutes idle, after 12 hours whatever the activity, when the same
browser logs in again (of the other kind), and `portal purge-sessions` deletes what nobody asked about."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from conftest import NOW, PortalBrowser, session_login
from portal import db
from portal.auth import sessions
from portal.domain import demo
from portal.models import AuthSession

ORDINARY = next(c for c in demo.demo_citizens(NOW.date()) if c.key == "ordinary").personnummer
DOCTOR_ONE_UNIT = demo.hsa("L002")


def sid_of(client) -> str:
    with client.session_transaction() as s:
        return s["_user_id"]


def row_exists(app, sid: str) -> bool:
    with db.new_session(app) as s:
        return s.get(AuthSession, sessions._hash(sid)) is not None


def count(app, model) -> int:
    with db.new_session(app) as s:
        return s.scalar(select(func.count()).select_from(model))


def test_an_active_session_ends_after_twelve_hours_and_its_row_goes(app, client, clock):
    session_login(client, app, "citizen", ORDINARY, name="Tolva Demosson")
    sid = sid_of(client)
    for _ in range(29):  # busy all day: a request every 24 minutes, never idle 30
        clock.advance(minutes=24)
        assert client.get("/mina-intyg/").status_code == 200
    assert clock.now() == NOW + timedelta(hours=11, minutes=36) and row_exists(app, sid)
    clock.advance(minutes=24)  # 12 hours after the login
    response = client.get("/mina-intyg/")
    assert response.status_code == 303 and response.headers["Location"].endswith("/utloggad/tidsgrans")
    assert not row_exists(app, sid)  # deleted, its ID token and name with it
    page = client.get("/utloggad/tidsgrans").get_data(as_text=True)
    assert "Du har blivit utloggad" in page and "En inloggning gäller i högst 12 timmar" in page
    assert client.get("/session/status").json["logged_in"] is False
    assert client.get("/mina-intyg/").status_code == 302  # to the login


def test_the_status_poll_after_twelve_hours_leads_to_the_same_page(app, client, clock):
    """The timeout script only knows /utloggad/inaktivitet: it sends the browser on to the right page."""
    session_login(client, app, "citizen", ORDINARY)
    sid = sid_of(client)
    clock.advance(hours=12)
    with db.new_session(app) as s:  # busy until a minute ago
        s.get(AuthSession, sessions._hash(sid)).last_activity_at = clock.now() - timedelta(minutes=1)
        s.commit()
    assert client.get("/session/status").json == {"logged_in": False, "remaining": 0, "warning": False}
    assert not row_exists(app, sid)
    landing = client.get("/utloggad/inaktivitet")
    assert landing.status_code == 303 and landing.headers["Location"].endswith("/utloggad/tidsgrans")


def test_an_idle_session_ends_with_its_row(app, client, clock):
    session_login(client, app, "citizen", ORDINARY)
    sid = sid_of(client)
    clock.advance(minutes=31)
    response = client.get("/mina-intyg/")
    assert response.headers["Location"].endswith("/utloggad/inaktivitet")
    assert not row_exists(app, sid)
    assert "Du har varit inaktiv i 30 minuter" in client.get("/utloggad/inaktivitet").get_data(as_text=True)


def test_expired_sessions_of_others_are_deleted_by_any_request(app, clock):
    """Nobody comes back for these two: the next request to the app (anyone's) deletes them anyway."""
    idle, busy, fresh = app.test_client(), app.test_client(), app.test_client()
    session_login(idle, app, "citizen", ORDINARY)
    session_login(busy, app, "staff", DOCTOR_ONE_UNIT, unit_id=demo.hsa("VE10"), role="LAKARE")
    clock.advance(minutes=31)
    with db.new_session(app) as s:  # a session created 12 hours ago but active a minute ago
        row = s.get(AuthSession, sessions._hash(sid_of(busy)))
        row.created_at, row.last_activity_at = clock.now() - timedelta(hours=12), clock.now() - timedelta(minutes=1)
        s.commit()
    session_login(fresh, app, "citizen", ORDINARY)
    assert count(app, AuthSession) == 3
    assert app.test_client().get("/").status_code == 200  # an anonymous visitor
    assert count(app, AuthSession) == 1 and row_exists(app, sid_of(fresh))


def test_purge_sessions_command_deletes_expired_sessions_and_ended_counters(app, clock):
    from portal.auth import rate_store
    from portal.auth.commands import purge_sessions_command
    from portal.models import RateLimit

    fresh, idle, old = app.test_client(), app.test_client(), app.test_client()
    for c in (idle, old):
        session_login(c, app, "citizen", ORDINARY)
    with db.new_session(app) as s:
        s.get(AuthSession, sessions._hash(sid_of(old))).created_at = NOW - timedelta(hours=12)
        s.get(AuthSession, sessions._hash(sid_of(idle))).last_activity_at = NOW - timedelta(minutes=31)
        s.add_all([RateLimit(key="LIMITER/203.0.113.9/auth.login/20/1/minute", hits=3,
                             expires_at=rate_store.utc(0)),
                   RateLimit(key="LIMITER/203.0.113.10/auth.login/20/1/minute", hits=3,
                             expires_at=rate_store.utc(4_000_000_000))])
        s.commit()
    session_login(fresh, app, "staff", DOCTOR_ONE_UNIT, unit_id=demo.hsa("VE10"), role="LAKARE")
    result = app.test_cli_runner().invoke(purge_sessions_command)
    assert result.exit_code == 0, result.output
    assert "2 expired session(s), 1 ended rate-limit counter(s)" in result.output
    assert count(app, AuthSession) == 1 and row_exists(app, sid_of(fresh))
    with db.new_session(app) as s:
        assert s.scalars(select(RateLimit.key)).all() == ["LIMITER/203.0.113.10/auth.login/20/1/minute"]


def test_the_portal_command_lists_purge_sessions():
    from click.testing import CliRunner

    from portal.cli import main

    assert "purge-sessions" in CliRunner().invoke(main, ["--help"]).output


def test_a_login_ends_the_other_kind_of_session_in_the_same_browser(live):
    browser = PortalBrowser(live.url)
    serializer = live.app.session_interface.get_signing_serializer(live.app)

    def current_sid() -> str:
        return serializer.loads(browser.http.cookies.get("session"))["_user_id"]

    assert browser.login("bankid", ORDINARY).url.endswith("/mina-intyg/")
    citizen_sid = current_sid()
    assert row_exists(live.app, citizen_sid)
    assert browser.login("siths", DOCTOR_ONE_UNIT).url.endswith("/rehabstod/")
    staff_sid = current_sid()
    assert staff_sid != citizen_sid and row_exists(live.app, staff_sid)
    assert not row_exists(live.app, citizen_sid)  # the citizen's row went, ID token and all
    # and the other way round
    assert browser.login("bankid", ORDINARY).url.endswith("/mina-intyg/")
    assert not row_exists(live.app, staff_sid) and row_exists(live.app, current_sid())
