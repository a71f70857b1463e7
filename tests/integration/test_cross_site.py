"""Requests from another site (Sec-Fetch-Site: cross-site, or a foreign Origin) are refused with a clear page
wherever they would change something or write a PDL record in a staff member's name: a link on another
site must not make a logged-in coordinator's browser read patients into the audit log. Same-site use,
bookmarks and typed addresses keep working without JavaScript. Every Rehabstöd route is taken from the
URL map, so a new one is checked without anyone remembering it."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from conftest import NOW, session_login
from portal import db
from portal.domain import demo as demo_data
from portal.models import PdlRecord, UserSettings

VE10 = demo_data.hsa("VE10")
CROSS = {"Sec-Fetch-Site": "cross-site"}


def pdl_count(app) -> int:
    with db.new_session(app) as s:
        return s.scalar(select(func.count()).select_from(PdlRecord))


@pytest.fixture
def coordinator(demo, client):
    session_login(client, demo, "staff", demo_data.hsa("R001"), unit_id=VE10, role="REHABKOORDINATOR", name="R")
    return client


def rehab_urls(app) -> list[tuple[str, str]]:
    adapter = app.url_map.bind("localhost")
    out = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("rehab."):
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                out.append((method, adapter.build(rule.endpoint, {a: "x" for a in rule.arguments})))
    return out


NO_PATIENT = {("GET", "/rehabstod/"), ("GET", "/rehabstod/installningar")}


def test_every_rehabstod_route_refuses_a_cross_site_request_and_logs_nothing(coordinator, demo):
    urls = [u for u in rehab_urls(demo) if u not in NO_PATIENT]
    assert len(urls) >= 14
    for method, url in urls:
        response = coordinator.open(url, method=method, headers=CROSS)
        assert response.status_code == 403, (method, url)
        assert "annan webbplats" in response.get_data(as_text=True)
        assert response.headers["Cache-Control"] == "no-store"
    assert pdl_count(demo) == 0


def test_the_pages_without_patients_open_from_another_site(coordinator, demo):
    """The login lands on the overview after the broker's site: the browser calls that chain cross-site."""
    for _method, url in NO_PATIENT:
        assert coordinator.get(url, headers=CROSS).status_code == 200
    assert pdl_count(demo) == 0


@pytest.mark.parametrize("headers", [{}, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
                                     {"Sec-Fetch-Site": "same-site"}])
def test_same_site_bookmarks_and_typed_addresses_work(coordinator, demo, headers):
    response = coordinator.get("/rehabstod/sjukfall", headers=headers)
    assert response.status_code == 200
    assert pdl_count(demo) > 0


def test_a_foreign_origin_cannot_change_settings(coordinator, demo):
    response = coordinator.post("/rehabstod/installningar", data={"max_days_between": "9", "max_days_since_end": "0",
                                                                   "default_unit": ""},
                                headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 403
    with db.new_session(demo) as s:
        assert s.get(UserSettings, demo_data.hsa("R001")) is None
    html = coordinator.get("/rehabstod/installningar").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)
    same = coordinator.post("/rehabstod/installningar", data={"max_days_between": "9", "max_days_since_end": "0",
                                                               "default_unit": "", "csrf_token": token},
                            headers={"Origin": "http://localhost"})
    assert same.status_code == 200
    with db.new_session(demo) as s:
        assert s.get(UserSettings, demo_data.hsa("R001")).max_days_between_certificates == 9


def test_citizen_actions_refuse_a_cross_site_post_but_reading_is_a_plain_link(demo, client):
    pnr = demo_data.demo_citizens(NOW.date())[0].personnummer
    session_login(client, demo, "citizen", pnr, name="Tolva")
    assert client.get("/mina-intyg/", headers=CROSS).status_code == 200  # a link to Mina intyg from 1177
    response = client.post("/mina-intyg/intyg/x/arkivera", headers=CROSS)
    assert response.status_code == 403


def test_the_login_callback_and_the_api_accept_other_sites(client):
    callback = client.get("/inloggning/siths/callback", headers=CROSS).get_data(as_text=True)
    assert "annan webbplats" not in callback  # the login's own answer (no login in progress), not a refusal
    response = client.post("/api/v1/certificates", json={}, headers={"Origin": "https://journal.example"})
    assert response.status_code == 401  # the API answers on its own terms (no token), not with the page


def test_origin_null_is_another_site_unless_the_browser_says_same_origin(demo, client):
    """A page with Referrer-Policy: no-referrer (the employer's share page) gets "Origin: null" on its own form
    posts from the browser, with Sec-Fetch-Site: same-origin; a sandboxed frame or another site's page sends
    "null" too, but never with same-origin."""
    pnr = demo_data.demo_citizens(NOW.date())[0].personnummer
    session_login(client, demo, "citizen", pnr, name="Tolva")
    refused = client.post("/mina-intyg/intyg/x/arkivera", headers={"Origin": "null"})
    assert refused.status_code == 403 and "annan webbplats" in refused.get_data(as_text=True)
    cross = client.post("/mina-intyg/intyg/x/arkivera", headers={"Origin": "null", "Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    own = client.post("/mina-intyg/intyg/x/arkivera", headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert own.status_code == 400  # past the cross-site check: the CSRF check answers (no token)
